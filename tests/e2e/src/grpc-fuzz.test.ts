import { readdirSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import { gzipSync } from "node:zlib";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exchange, garbage, inParallel, prng, RUNS, SEED, TIMEOUT } from "./fuzz-target";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * Bad input at the control plane's gRPC port, which agents dial: noise instead of TLS,
 * garbage ClientHellos, garbage instead of HTTP/2, HTTP/2 frames of noise, and gRPC
 * messages over the receive bound (declared, sent, or by decompression). Each is refused;
 * the control plane stays up, in bounded memory, and keeps serving its agent's link.
 */

let stack: Stack;
let agent: AgentProcess;
let ca: Buffer;
const port = () => stack.cp.grpcPort;
const pid = () => stack.cp.proc.child.pid!;
const rssMiB = () =>
  Math.round(Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid()}/status`, "utf8"))?.[1]) / 1024);
let baseline: { rssMiB: number; fds: number };

beforeAll(async () => {
  stack = await startStack();
  agent = await stack.startAgent("grpc-fuzz-edge");
  ca = readFileSync(stack.pki.caFile);
  baseline = { rssMiB: rssMiB(), fds: readdirSync(`/proc/${pid()}/fd`).length };
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** The control plane is up, logged no uncaught exception, and its agent's link still beats. */
async function expectControlPlaneHealthy(): Promise<void> {
  expect(stack.cp.proc.child.exitCode, stack.cp.proc.output().slice(-3000)).toBeNull();
  expect(stack.cp.proc.output()).not.toMatch(/uncaught|unhandled/i);
  const seen = (await stack.api(`/api/v1/agents/${agent.name}`)).body?.lastSeenAt;
  await eventually(
    async () => {
      const a = (await stack.api(`/api/v1/agents/${agent.name}`)).body;
      return a?.status === "online" && a.lastSeenAt !== seen;
    },
    15_000,
    250,
  );
  expect(rssMiB()).toBeLessThan(baseline.rssMiB + 200);
  // A connection it sent GOAWAY for is kept until the HTTP/2 server's 30 s idle close; a few
  // of the default barrage's, or many of a long run's, are still open for a while.
  const linger = process.env.SLUICE_FUZZ_RUNS ? 40_000 : 10_000;
  await expect
    .poll(() => readdirSync(`/proc/${pid()}/fd`).length, { timeout: linger, interval: 250 })
    .toBeLessThan(baseline.fds + 15);
}

/** One gRPC call over HTTP/2; resolves with the grpc-status the server gave (headers or trailers). */
function grpcCall(body: Buffer, headers: Record<string, string> = {}): Promise<string | undefined> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://localhost:${port()}`, { ca });
    let status: string | undefined;
    const done = () => {
      session.close();
      resolve(status);
    };
    session.on("error", done);
    const req = session.request({
      ":method": "POST",
      ":path": "/sluice.agent.v1.AgentService/AuthorizeSession",
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const take = (h: http2.IncomingHttpHeaders) => {
      status ??= h["grpc-status"] as string | undefined;
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("error", () => undefined);
    req.on("close", done);
    req.resume();
    req.end(body);
  });
}

/** A gRPC message: compressed flag, declared length, bytes. */
function message(bytes: Buffer, opts: { declared?: number; compressed?: boolean } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed ? 1 : 0;
  head.writeUInt32BE(opts.declared ?? bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

describe("the control plane's gRPC port", () => {
  it(
    "closes noise instead of TLS and garbage ClientHellos",
    async () => {
      const rnd = prng(SEED + 10);
      const hello = Buffer.from("160301002a0100002603030000000000", "hex");
      const inputs = Array.from({ length: RUNS }, () => garbage(rnd, hello));
      const replies = await inParallel(inputs, 16, (b) => exchange(port(), b, { fin: true, waitMs: 5_000 }));
      expect(replies.filter((r) => r.end === "open").length, `seed ${SEED + 10}`).toBe(0);
      await expectControlPlaneHealthy();
    },
    TIMEOUT,
  );

  it(
    "refuses TLS connections that send garbage instead of HTTP/2, or HTTP/2 frames of noise",
    async () => {
      const rnd = prng(SEED + 11);
      const n = (max: number) => Math.floor(rnd() * max);
      const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      const frame = () => {
        const payload = Buffer.from(Array.from({ length: n(64) }, () => n(256)));
        const head = Buffer.alloc(9);
        // declared lengths up to 16 MiB, over the 16 KiB frame size the server allows
        head.writeUIntBE(rnd() < 0.3 ? n(1 << 24) : payload.length, 0, 3);
        head[3] = n(12);
        head[4] = n(256);
        head.writeUInt32BE(n(8), 5);
        return Buffer.concat([head, payload]);
      };
      const inputs = Array.from({ length: RUNS }, (_, i) =>
        i % 4 === 0
          ? garbage(rnd, preface)
          : Buffer.concat([preface, ...Array.from({ length: 1 + n(4) }, frame)]),
      );
      const replies = await inParallel(inputs, 16, (bytes) => h2Raw(bytes));
      expect(replies.filter((r) => r === "open").length, `seed ${SEED + 11}`).toBe(0);
      await expectControlPlaneHealthy();
    },
    TIMEOUT,
  );

  it("refuses gRPC messages over its receive bound with RESOURCE_EXHAUSTED, however they come", async () => {
    const RESOURCE_EXHAUSTED = "8";
    const over = 9 * 1024 * 1024;
    expect(await grpcCall(message(Buffer.alloc(over, 1)))).toBe(RESOURCE_EXHAUSTED);
    // a declared length of 4 GiB with a few bytes: refused at the header, not after waiting
    expect(await grpcCall(message(Buffer.alloc(16), { declared: 0xffffffff }))).toBe(RESOURCE_EXHAUSTED);
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
    expect(await grpcCall(message(bomb, { compressed: true }), { "grpc-encoding": "gzip" })).toBe(
      RESOURCE_EXHAUSTED,
    );
    // A well-formed call still gets a gRPC answer of its own.
    expect(await grpcCall(message(Buffer.alloc(0)))).toMatch(/^\d+$/);
    await expectControlPlaneHealthy();
  }, 60_000);
});

/**
 * Sends bytes over TLS negotiated as h2, then a FIN (a truncated frame is not a stalled
 * client). "refused" once the server sent a GOAWAY or closed the connection.
 */
function h2Raw(bytes: Buffer): Promise<"refused" | "open"> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const s = tls.connect(
      { host: "127.0.0.1", port: port(), ca, servername: "localhost", ALPNProtocols: ["h2"] },
      () => s.end(bytes),
    );
    const settle = (how: "refused" | "open") => {
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => settle("open"), 5_000);
    s.on("error", () => undefined);
    s.on("data", (c: Buffer) => {
      got = Buffer.concat([got, c]);
      for (let at = 0; at + 9 <= got.length; at += 9 + got.readUIntBE(at, 3)) {
        if (got[at + 3] === 7) settle("refused");
      }
    });
    s.on("close", () => settle("refused"));
  });
}
