import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from "node:net";
import { credentials } from "@grpc/grpc-js";
import { AgentServiceClient, type RecordingAck, type RecordingBatch } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import type { TestControlPlane } from "../../testing/control-plane.testing";
import { agentMetadata, createAppDb, linkAgent } from "../../testing/fixtures.testing";

export interface ReceivedNotification {
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as signed. */
  body: string;
  json: any;
}

export interface ReceiverAnswer {
  status: number;
  body?: string;
  delayMs?: number;
}

export interface TestReceiver {
  /** Base URL, e.g. `http://127.0.0.1:41234`; any path is accepted. */
  url: string;
  received: ReceivedNotification[];
  /** Requests whose `Sluice-Event` header is `event`. */
  ofEvent(event: string): ReceivedNotification[];
  /** How to answer the n-th request (0-based); the default is 200. */
  answer(fn: (req: ReceivedNotification, n: number) => ReceiverAnswer): void;
  close(): Promise<void>;
}

/** A real HTTP receiver on loopback that records every notification it gets. */
export async function startTestReceiver(): Promise<TestReceiver> {
  const received: ReceivedNotification[] = [];
  let answer: (req: ReceivedNotification, n: number) => ReceiverAnswer = () => ({ status: 200, body: "ok" });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const rec = { path: req.url ?? "/", headers: req.headers, body, json };
      const n = received.length;
      received.push(rec);
      const a = answer(rec, n);
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(a.status, { "content-type": "text/plain" }).end(a.body ?? "");
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    ofEvent: (event) => received.filter((r) => r.headers["sluice-event"] === event),
    answer(fn) {
      answer = fn;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CuttableProxy {
  port: number;
  /** Drops every connection and refuses new ones, as if the upstream went away. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Client connections open through the proxy right now. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy on loopback to a real upstream (e.g. Redis) whose link a test can cut. */
export async function startCuttableProxy(
  upstreamPort: number,
  upstreamHost = "127.0.0.1",
): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(upstreamPort, upstreamHost);
    clients.add(client);
    client.on("close", () => clients.delete(client));
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await listen(0);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    cut: stop,
    restore: () => listen(port),
    connections: () => clients.size,
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

export interface AgentFixture {
  client: AgentServiceClient;
  agentToken: string;
  userKey: string;
  /** Starts a session on `app-db` for the fixture's user; returns its id. */
  startSession(): Promise<string>;
  /** Uploads recording batches over the real gRPC stream and waits for every ack. */
  upload(batches: RecordingBatch[]): Promise<number[]>;
  close(): void;
}

const bearer = agentMetadata;

/** A recording event as an agent uploads it. */
export function recordingEvent(seq: number, kind: string, payload: object) {
  return { seq, atUnixMs: Date.now(), kind, payloadJson: JSON.stringify(payload) };
}

/**
 * A user "Dana Dev" in group dev, a postgres connection `app-db` for dev, and an agent
 * `edge` linked over real gRPC, so sessions can start and recordings can be uploaded.
 */
export async function setUpAgentFixture(cp: TestControlPlane): Promise<AgentFixture> {
  const client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "dev" } });
  const u = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name: "Dana Dev", email: "dana@example.com", groups: ["dev"] },
  });
  const userKey = (
    await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } })
  ).body.secret as string;
  await createAppDb(cp, ["dev"]);
  const link = await linkAgent({ cp, grpc: client }, "edge");
  const agentToken = link.token;
  return {
    client,
    agentToken,
    userKey,
    async startSession() {
      const res = await cp.api("/api/v1/sessions", {
        method: "POST",
        key: userKey,
        body: { connection: "app-db" },
      });
      if (res.status !== 201) throw new Error(`session refused: ${res.text}`);
      return res.body.session.id as string;
    },
    async upload(batches) {
      const stream = client.uploadRecording(bearer(agentToken));
      const acks: number[] = [];
      stream.on("data", (a: RecordingAck) => acks.push(a.ackedSeq));
      stream.on("error", () => undefined);
      for (const b of batches) stream.write(b);
      await eventually(() => acks.length === batches.length);
      stream.end();
      return acks;
    },
    close: () => {
      link.close();
      client.close();
    },
  };
}
