import net from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Capability } from "./constants";
import { isProtocolError } from "./errors";
import { parseErr } from "./generic-packets";
import { serializeHandshakeResponse } from "./handshake-packets";
import { PacketReader, packet } from "./packet-reader";
import { ACCESS_DENIED, readClientLogin } from "./server-handshake";

/**
 * The agent's side of the MySQL login against clients that send anything after the
 * greeting: each gets an ERR, an AuthSwitchRequest or a close, within the handshake's
 * deadline, and nothing else; the login never throws anything but a ProtocolError.
 */

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 60;
const DEADLINE_MS = 150;

let server: net.Server;
let port: number;
const outcomes: { error?: unknown; ms: number }[] = [];
/** When each server-side socket closed, by the client's local port. */
const closedAt = new Map<number, number>();

beforeAll(async () => {
  server = net.createServer((socket) => {
    const started = Date.now();
    const client = socket.remotePort ?? 0;
    socket.on("close", () => closedAt.set(client, Date.now()));
    socket.on("error", () => undefined);
    readClientLogin(socket, { connectionId: 1, allowPlaintextPassword: true, timeoutMs: DEADLINE_MS }).then(
      (login) => {
        outcomes.push({ ms: Date.now() - started });
        login.reject(ACCESS_DENIED(login.user));
      },
      (error: unknown) => {
        outcomes.push({ error, ms: Date.now() - started });
        socket.end();
        setTimeout(() => socket.destroy(), 500).unref();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const CAPS =
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CONNECT_WITH_DB |
  Capability.CONNECT_ATTRS;

const response = serializeHandshakeResponse({
  capabilities: CAPS,
  maxPacketSize: 1 << 24,
  collation: 45,
  username: "dev",
  authResponse: Buffer.alloc(0),
  database: "orders",
  authPluginName: "mysql_native_password",
  attributes: { _client_name: "libmariadb" },
});

/** What a client sends after the greeting: noise, a mutated response, or a response and a reply. */
const clientBytes = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(300))
    .map(([flips, cut]) => {
      const p = Buffer.from(response);
      for (const [at, v] of flips) p[at % p.length] = v;
      return packet(1, p.subarray(0, Math.max(4, p.length - (cut % 40))));
    }),
  fc
    .tuple(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 0, max: 255 }))
    .map(([token, seq]) => Buffer.concat([packet(1, response), packet(seq, Buffer.from(token))])),
);

/** Connects, waits for the greeting, sends `bytes`; resolves with what came back until the close. */
function exchange(bytes: Buffer, end: boolean): Promise<{ replies: Buffer[]; closedMs: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const reader = new PacketReader({ maxPayload: 1 << 20 });
    const replies: Buffer[] = [];
    let greeted = false;
    let sentAt = 0;
    s.on("error", () => undefined);
    s.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      for (let p = reader.next(); p; p = reader.next()) {
        if (!greeted) {
          greeted = true;
          sentAt = Date.now();
          if (end) s.end(bytes);
          else s.write(bytes);
        } else replies.push(Buffer.from(p.payload));
      }
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ replies, closedMs: Date.now() - sentAt });
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("the login neither finished nor closed the connection"));
    }, DEADLINE_MS + 2_000);
  });
}

describe("MySQL login against arbitrary client bytes", () => {
  it("answers with an ERR, an AuthSwitchRequest or a close, in time, and fails only with a ProtocolError", async () => {
    await fc.assert(
      fc.asyncProperty(clientBytes, fc.boolean(), async (bytes, end) => {
        const before = outcomes.length;
        const { replies, closedMs } = await exchange(bytes, end);
        expect(closedMs).toBeLessThan(DEADLINE_MS + 1_000);
        for (const r of replies) expect([0xff, 0xfe]).toContain(r[0]);
        for (const r of replies.filter((p) => p[0] === 0xff)) {
          expect([1043, 1045, 3159]).toContain(parseErr(r).errorCode);
        }
        await expect.poll(() => outcomes.length).toBeGreaterThan(before);
        const outcome = outcomes[before]!;
        if (outcome.error !== undefined)
          expect(isProtocolError(outcome.error), String(outcome.error)).toBe(true);
        expect(outcome.ms).toBeLessThan(DEADLINE_MS + 500);
      }),
      { numRuns: RUNS },
    );
  }, 60_000);

  it("tells a client whose HandshakeResponse it cannot read: ERR 1043 Bad handshake, as MySQL does", async () => {
    const { replies } = await exchange(packet(1, Buffer.from([0x00, 0x02, 0x00])), false);
    expect(replies.map((r) => parseErr(r))).toEqual([
      { errorCode: 1043, sqlState: "08S01", message: "Bad handshake" },
    ]);
  });

  it("gives the whole login one deadline, however the client paces its packets", async () => {
    // Each packet comes within the deadline of its own, the two together do not.
    const pause = () => new Promise((r) => setTimeout(r, DEADLINE_MS * 0.7));
    const s = net.connect(port, "127.0.0.1");
    s.on("error", () => undefined);
    const reader = new PacketReader();
    const replies: number[] = [];
    s.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      for (let p = reader.next(); p; p = reader.next()) replies.push(p.payload[0]!);
    });
    const closed = new Promise((resolve) => s.once("close", resolve));
    await pause();
    s.write(packet(1, response));
    await pause();
    s.write(packet(3, Buffer.from("sk_token\0")));
    await closed;
    // greeting, AuthSwitchRequest, and no verdict on a token that came too late
    expect(replies).toEqual([10, 0xfe]);
  });

  it("lets go of a refused client that never closes its side", async () => {
    const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    s.on("error", () => undefined);
    const reader = new PacketReader();
    const replies: number[] = [];
    let refusedAt = 0;
    s.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      for (let p = reader.next(); p; p = reader.next()) {
        replies.push(p.payload[0]!);
        if (replies.length === 1)
          s.write(Buffer.concat([packet(1, response), packet(3, Buffer.from("token\0"))]));
        if (p.payload[0] === 0xff) refusedAt = Date.now();
      }
    });
    await expect.poll(() => refusedAt).toBeGreaterThan(0);
    const local = s.localPort!;
    // The ERR 1045 came and the client keeps its side open: the server still closes the socket.
    await expect.poll(() => closedAt.get(local), { timeout: 3_000 }).toBeDefined();
    expect(closedAt.get(local)! - refusedAt).toBeLessThan(2_000);
    expect(replies).toEqual([10, 0xfe, 0xff]);
    s.destroy();
  });
});
