import net from "node:net";
import { FrameReader, parseStartupFrame } from "@sluice/pg-wire";
import { describe, expect, it } from "vitest";
import { CancelRegistry } from "./cancel-registry";

function fakeBackend(): Promise<{ port: number; received: Promise<unknown>; close(): void }> {
  return new Promise((resolve) => {
    let got: (v: unknown) => void = () => {};
    const received = new Promise((r) => (got = r));
    const server = net.createServer((s) => {
      const reader = new FrameReader({ startup: true });
      s.on("data", (c: Buffer) => {
        reader.push(c);
        if (reader.next()) got(parseStartupFrame(reader.body()));
      });
    });
    server.listen(0, "127.0.0.1", () =>
      resolve({ port: (server.address() as net.AddressInfo).port, received, close: () => server.close() }),
    );
  });
}

describe("CancelRegistry", () => {
  it("forwards a known key as the real backend key and ignores unknown ones", async () => {
    const be = await fakeBackend();
    const registry = new CancelRegistry();
    const real = { processId: 4711, secretKey: Buffer.from([1, 2, 3, 4]) };
    const reg = registry.register({ host: "127.0.0.1", port: be.port, ssl: { mode: "disable" } }, real);
    expect(reg.key.processId).not.toBe(real.processId);
    expect(await registry.cancel(reg.key.processId, Buffer.from([1, 2, 3, 4]))).toBe(false);
    expect(await registry.cancel(reg.key.processId, reg.key.secretKey)).toBe(true);
    expect(await be.received).toEqual({ kind: "cancel", ...real });
    reg.release();
    expect(registry.size).toBe(0);
    expect(await registry.cancel(reg.key.processId, reg.key.secretKey)).toBe(false);
    be.close();
  });
});
