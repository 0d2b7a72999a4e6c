import { readdir } from "node:fs/promises";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AgentServiceClient } from "@sluice/proto";
import { afterEach, describe, expect, it } from "vitest";
import { createRecordingStore, type RecordingServer, startRecordingServer } from "./recording-server.testing";
import { createSpool, type Spool } from "./spool";
import { withTempDir } from "./spool.testing";
import { createUploader } from "./uploader";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function clientFor(port: number): AgentServiceClient {
  const client = new AgentServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.initial_reconnect_backoff_ms": 50,
    "grpc.max_reconnect_backoff_ms": 200,
  });
  cleanups.push(() => client.close());
  return client;
}

function serve(server: RecordingServer): RecordingServer {
  cleanups.push(() => server.server.forceShutdown());
  return server;
}

function appendSessions(spool: Spool, sessions: string[], perSession: number): void {
  for (let i = 0; i < perSession; i++) {
    for (const id of sessions)
      spool.append(id, "pg.statement", { text: `select ${i} -- ${"x".repeat(140)}` });
  }
}

function expectComplete(
  store: ReturnType<typeof createRecordingStore>,
  sessions: string[],
  perSession: number,
) {
  for (const id of sessions) {
    const events = store.session(id);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: perSession }, (_, i) => i + 1));
    expect(events.some((e) => e.kind === "gap")).toBe(false);
  }
}

describe("uploader", () => {
  it("delivers every event exactly once and empties the spool", () =>
    withTempDir(async (dir) => {
      const store = createRecordingStore();
      const { port } = serve(await startRecordingServer(store));
      const client = clientFor(port);
      const spool = await createSpool({ dir });
      const sessions = ["a", "b", "c"];
      appendSessions(spool, sessions, 2000);
      await spool.flush();
      const uploader = createUploader({
        spool,
        openStream: () => client.uploadRecording(new Metadata()),
        maxBatchEvents: 250,
      });
      uploader.start();
      for (const id of sessions) await spool.endSession(id);
      await uploader.stop({ drainMs: 20_000 });

      expectComplete(store, sessions, 2000);
      expect(store.deliveries).toBe(6000);
      expect(await readdir(dir)).toEqual([]);
      await spool.close();
    }));

  it("picks up events appended while it runs", () =>
    withTempDir(async (dir) => {
      const store = createRecordingStore();
      const { port } = serve(await startRecordingServer(store));
      const client = clientFor(port);
      const spool = await createSpool({ dir, flushIntervalMs: 5 });
      const uploader = createUploader({ spool, openStream: () => client.uploadRecording(), coalesceMs: 10 });
      uploader.start();
      spool.append("live", "tcp.stats", { bytesIn: 1, bytesOut: 2 });
      await expect.poll(() => store.session("live").length, { timeout: 5000 }).toBe(1);
      spool.append("live", "tcp.stats", { bytesIn: 3, bytesOut: 4 });
      await expect.poll(() => store.session("live").length, { timeout: 5000 }).toBe(2);
      await expect.poll(() => spool.pending().length, { timeout: 5000 }).toBe(0);
      await uploader.stop();
      await spool.close();
    }));

  it("reconnects after the server dies mid-upload and leaves no holes", () =>
    withTempDir(async (dir) => {
      const store = createRecordingStore();
      let killed = false;
      let first: RecordingServer | undefined;
      first = serve(
        await startRecordingServer(store, 0, () => {
          if (killed || store.events.size < 3000) return;
          killed = true;
          first?.server.forceShutdown();
        }),
      );
      const port = first.port;
      const client = clientFor(port);
      const spool = await createSpool({ dir, segmentBytes: 64 * 1024 });
      const sessions = ["a", "b", "c", "d"];
      appendSessions(spool, sessions, 2500);
      for (const id of sessions) await spool.endSession(id);
      const errors: unknown[] = [];
      const uploader = createUploader({
        spool,
        openStream: () => client.uploadRecording(),
        maxBatchEvents: 100,
        backoff: { initialMs: 20, maxMs: 200 },
        onError: (err) => errors.push(err),
      });
      uploader.start();
      await expect.poll(() => killed, { timeout: 10_000 }).toBe(true);
      expect(store.events.size).toBeLessThan(10_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      serve(await startRecordingServer(store, port));
      await uploader.stop({ drainMs: 20_000 });

      expect(errors.length).toBeGreaterThan(0);
      expect(uploader.stats().reconnects).toBeGreaterThan(0);
      expectComplete(store, sessions, 2500);
      expect(await readdir(dir)).toEqual([]);
      await spool.close();
    }));
});
