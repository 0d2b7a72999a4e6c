import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseBackendMessage } from "./backend-messages";
import { backend } from "./backend-serializer";
import { DataRowReader } from "./data-row";
import { ProtocolError } from "./errors";
import { FrameReader } from "./frame-reader";
import { FrameScanner, frameTypes } from "./frame-scanner";
import { parseFrontendMessage, parseStartupFrame } from "./frontend-messages";
import { frontend } from "./frontend-serializer";

/**
 * Bad input at the Postgres door, byte by byte: arbitrary streams cut at arbitrary points
 * read exactly as when whole, are refused as soon as a bad header is complete, never make
 * the reader hold or allocate more than one frame's bound, and yield messages or a
 * ProtocolError, never anything else. SLUICE_FUZZ_RUNS sets how many cases each property
 * tries (see the README for a long run).
 */

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 300;
const MAX = 512;
const MAX_STARTUP = 256;

/** A frame header with a declared length that is valid, or too short, or over the bound. */
const frameArb = (typed: boolean) =>
  fc
    .record({
      type: fc.integer({ min: 0, max: 255 }),
      body: fc.uint8Array({ maxLength: 300 }),
      length: fc.oneof(
        { weight: 6, arbitrary: fc.constant(-1) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) },
        { weight: 1, arbitrary: fc.integer({ min: MAX + 1, max: 0xffffffff }) },
      ),
    })
    .map(({ type, body, length }) => {
      const head = Buffer.alloc(typed ? 5 : 4);
      if (typed) head[0] = type;
      const declared = length >= 0 ? length : body.length + 4 + (typed ? 0 : 4);
      head.writeUInt32BE(declared, typed ? 1 : 0);
      const extra = typed ? Buffer.alloc(0) : Buffer.from([0, 3, 0, 0]);
      return Buffer.concat([head, extra, body]);
    });

/** Valid frames, bad headers and raw noise, in any order. */
const streamArb = fc
  .array(
    fc.oneof(
      frameArb(true),
      frameArb(false),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    ),
    { maxLength: 12 },
  )
  .map((parts) => Buffer.concat(parts));

function cut(buf: Buffer, offsets: number[]): Buffer[] {
  const at = [...new Set(offsets.map((o) => o % (buf.length + 1)))]
    .filter((o) => o > 0)
    .sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

interface Read {
  frames: { type: number; raw: Buffer }[];
  error?: string;
  /** Bytes pushed when the reader refused the stream. */
  refusedAt?: number;
}

/**
 * Reads the chunks as the agent's handshake does: `startupFrames` untyped frames, then typed
 * ones. Checks the bounds on the way: what the reader holds between chunks and every frame.
 */
function read(chunks: Buffer[], startupFrames: number): Read {
  const reader = new FrameReader({
    startup: startupFrames > 0,
    maxFrameLength: MAX,
    maxStartupFrameLength: MAX_STARTUP,
  });
  const out: Read = { frames: [] };
  let pushed = 0;
  try {
    for (const chunk of chunks) {
      reader.push(chunk);
      pushed += chunk.length;
      while (reader.next()) {
        expect(reader.end - reader.start).toBeLessThanOrEqual(reader.startup ? MAX_STARTUP : MAX + 1);
        out.frames.push({ type: reader.type, raw: Buffer.from(reader.raw()) });
        if (out.frames.length >= startupFrames) reader.setStartup(false);
      }
      expect(reader.buffered).toBeLessThanOrEqual(MAX + 1);
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toMatch(/^frame_too_(short|large)$/);
    out.error = (err as Error).message;
    out.refusedAt = pushed;
  }
  return out;
}

/** Parses a frame as the proxy would; anything but a ProtocolError is a bug. */
function parseAll(frame: { type: number; raw: Buffer }, startup: boolean): void {
  const body = frame.raw.subarray(startup ? 4 : 5);
  for (const parse of [
    () => (startup ? parseStartupFrame(body) : parseFrontendMessage(frame.type, body)),
    () => parseBackendMessage(frame.type, body),
    () => new DataRowReader().reset(body),
  ]) {
    try {
      parse();
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
  }
}

describe("Postgres framing under arbitrary bytes", () => {
  it("reads a stream cut anywhere exactly as the whole stream: the same frames, the same refusal", () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 20 }), fc.nat(2), (stream, offsets, startup) => {
        const whole = read([stream], startup);
        const { refusedAt: _, ...split } = read(cut(stream, offsets), startup);
        const { refusedAt: __, ...expected } = whole;
        expect(split).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses a bad length as soon as its header is complete, without waiting for a body", () => {
    fc.assert(
      fc.property(streamArb, fc.nat(2), (stream, startup) => {
        const bytes = [...stream].map((b) => Buffer.from([b]));
        const r = read(bytes, startup);
        if (r.error === undefined) return;
        const consumed = r.frames.reduce((n, f) => n + f.raw.length, 0);
        const header = r.frames.length < startup ? 4 : 5;
        expect(r.refusedAt).toBe(consumed + header);
      }),
      { numRuns: RUNS },
    );
  });

  it("turns every frame of an arbitrary stream into a message or a ProtocolError", () => {
    fc.assert(
      fc.property(streamArb, fc.nat(2), (stream, startup) => {
        read([stream], startup).frames.forEach((f, i) => {
          parseAll(f, i < startup);
        });
      }),
      { numRuns: RUNS },
    );
  });
});

/** Messages real clients and servers send, to mutate. */
const valid = (): Buffer[] => [
  frontend.startup({ user: "u", database: "d", application_name: "a" }),
  frontend.startup({ user: "u" }, 2),
  frontend.cancelRequest(7, Buffer.alloc(4, 9)),
  frontend.sslRequest(),
  frontend.password("sk_token"),
  frontend.saslInitialResponse("SCRAM-SHA-256", "n,,n=u,r=abc"),
  frontend.query("SELECT 1; SELECT 2"),
  frontend.parse({ name: "s1", text: "SELECT $1::int", paramTypes: [23, 25] }),
  frontend.bind({
    statement: "s1",
    paramFormats: [0, 1],
    values: [Buffer.from("1"), null],
    resultFormats: [1],
  }),
  frontend.describe("S", "s1"),
  frontend.execute("", 10),
  frontend.copyFail("stop"),
  backend.authenticationSASL(["SCRAM-SHA-256"]),
  backend.parameterStatus("server_version", "16"),
  backend.backendKeyData({ processId: 1, secretKey: Buffer.alloc(4, 1) }),
  backend.rowDescription([
    { name: "a", tableOid: 1, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
  ]),
  backend.errorResponse({ S: "ERROR", C: "42000", M: "no" }),
  backend.negotiateProtocolVersion(0, ["_pq_.x"]),
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({
    op: fc.constant("length" as const),
    at: fc.nat(),
    value: fc.integer({ min: -1, max: 0x7fff }),
  }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(msg: Buffer, steps: Mutation[]): Buffer {
  let b = Buffer.from(msg);
  for (const m of steps) {
    const at = b.length ? m.at % b.length : 0;
    if (m.op === "flip" && b.length) b[at] = m.value;
    else if (m.op === "cut") b = b.subarray(0, at);
    else if (m.op === "insert") b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else if (m.op === "length" && at + 2 <= b.length) b.writeInt16BE(m.value, at);
  }
  return b;
}

describe("Postgres messages with mutated fields", () => {
  it("parse to a message or a ProtocolError, whatever field was changed", () => {
    const messages = valid();
    fc.assert(
      fc.property(
        fc.constantFrom(...messages),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (msg, steps) => {
          const bytes = mutate(msg, steps);
          const typed = msg[0] !== 0;
          const r = read([bytes], typed ? 0 : 1);
          r.frames.forEach((f, i) => {
            parseAll(f, !typed && i === 0);
          });
        },
      ),
      { numRuns: RUNS * 4 },
    );
  });
});

describe("the relay's frame scanner under arbitrary bytes", () => {
  it("forwards nothing of a bad frame, and refuses it as the reader does, however the stream is cut", () => {
    const types = frameTypes(0x44, 0x45, 0x51, 0x5a);
    const scanAll = (chunks: Buffer[]) => {
      const scanner = new FrameScanner(types, { onFrame() {}, collect: () => true, onPassed() {} }, MAX);
      const forwarded: Buffer[] = [];
      let error: string | undefined;
      try {
        for (const c of chunks) {
          const n = scanner.scan(c);
          if (scanner.released) forwarded.push(scanner.released);
          forwarded.push(c.subarray(0, n));
          scanner.deliver();
        }
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        error = (err as Error).message;
      }
      return { forwarded: Buffer.concat(forwarded), error };
    };
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 20 }), (stream, offsets) => {
        const expected = read([stream], 0);
        const { forwarded, error } = scanAll(cut(stream, offsets));
        expect(error).toEqual(expected.error);
        expect(forwarded.equals(stream.subarray(0, forwarded.length))).toBe(true);
        if (error === undefined) {
          // Only a header cut by the stream's end is held back.
          expect(stream.length - forwarded.length).toBeLessThan(5);
          return;
        }
        // Nothing of the refused frame went out, and what did reads as the frames before it.
        const badAt = expected.frames.reduce((n, f) => n + f.raw.length, 0);
        expect(forwarded.length).toBeLessThanOrEqual(badAt);
        const ahead = read([forwarded], 0);
        expect(ahead.error).toBeUndefined();
        expect(ahead.frames).toEqual(expected.frames.slice(0, ahead.frames.length));
      }),
      { numRuns: RUNS },
    );
  });
});
