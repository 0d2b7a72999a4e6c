import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key";
import { createSshProxyServer } from "./server";

/**
 * Bad input at the SSH door before authentication: identification lines and binary packets
 * that are noise, over-long, truncated or declare absurd lengths. The proxy server answers
 * with its own identification and closes within its deadline; nothing reaches
 * `authenticate`, and nothing is thrown out of the server. SLUICE_FUZZ_RUNS sets the runs.
 */

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 60;
const AUTH_TIMEOUT_MS = 200;
const dir = mkdtempSync(join(tmpdir(), "ssh-proxy-fuzz-"));
let authenticated = 0;
const proxy = createSshProxyServer({
  hostKey: loadOrCreateHostKey(join(dir, "proxy.key")).privateKey,
  failureDelayMs: 1,
  authTimeoutMs: AUTH_TIMEOUT_MS,
  async authenticate() {
    authenticated++;
    throw new Error("no");
  },
});
let port = 0;

beforeAll(async () => {
  port = await new Promise((resolve) =>
    proxy.server.listen(0, "127.0.0.1", () => resolve((proxy.server.address() as AddressInfo).port)),
  );
});

afterAll(() => {
  proxy.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const IDENT = Buffer.from("SSH-2.0-OpenSSH_9.6\r\n");

/** A binary packet: declared length (true or arbitrary), padding length, message type, payload. */
const packetArb = fc
  .record({
    length: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffffffff })),
    padding: fc.integer({ min: 0, max: 255 }),
    type: fc.constantFrom(20, 21, 30, 5, 50, 1, 0, 255),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ length, padding, type, payload }) => {
    const body = Buffer.concat([Buffer.from([padding, type]), Buffer.from(payload)]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(length >= 0 ? length : body.length);
    return Buffer.concat([head, body]);
  });

const clientBytes = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
  fc.array(packetArb, { maxLength: 3 }).map((ps) => Buffer.concat([IDENT, ...ps])),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.concat([IDENT, Buffer.from(b)])),
  fc
    .tuple(fc.constantFrom("SSH-1.5-x", "SSH-2.0-", "SSH-", "ssh-2.0-x", "SSH-2.0-x\0y"), fc.nat(9000))
    .map(([ident, pad]) => Buffer.from(`${ident}${"a".repeat(pad)}\r\n`)),
  fc
    .array(fc.string({ maxLength: 80 }), { maxLength: 20 })
    .map((lines) => Buffer.from(`${lines.map((l) => `${l.replace(/\n/g, "")}\r\n`).join("")}SSH-2.0-x\r\n`)),
);

/** Sends `bytes` (and a FIN when `end`); resolves with what the server sent and how long it took to close. */
function exchange(bytes: Buffer, end: boolean): Promise<{ reply: Buffer; closedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = connect(port, "127.0.0.1", () => (end ? s.end(bytes) : s.write(bytes)));
    const reply: Buffer[] = [];
    s.on("error", () => undefined);
    s.on("data", (c: Buffer) => reply.push(c));
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(reply), closedMs: Date.now() - started });
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("the server left the connection open past its deadline"));
    }, AUTH_TIMEOUT_MS + 3_000);
  });
}

describe("SSH pre-authentication against arbitrary bytes", () => {
  it("identifies itself, then closes within its deadline; nothing is authenticated", async () => {
    await fc.assert(
      fc.asyncProperty(clientBytes, fc.boolean(), async (bytes, end) => {
        const { reply, closedMs } = await exchange(bytes, end);
        expect(closedMs).toBeLessThan(AUTH_TIMEOUT_MS + 2_000);
        if (reply.length > 0) expect(reply.subarray(0, 15).toString()).toBe("SSH-2.0-Sluice\r");
        expect(authenticated).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it("closes a client that sends its identification one byte at a time, at its deadline", async () => {
    const started = Date.now();
    const s = connect(port, "127.0.0.1");
    s.on("error", () => undefined);
    let i = 0;
    const drip = setInterval(() => s.write(IDENT.subarray(i % IDENT.length, (i++ % IDENT.length) + 1)), 50);
    await new Promise((resolve) => s.once("close", resolve));
    clearInterval(drip);
    expect(Date.now() - started).toBeLessThan(AUTH_TIMEOUT_MS + 1_500);
  });
});
