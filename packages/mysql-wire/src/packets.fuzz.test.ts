import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseColumnDefinition, serializeColumnDefinition } from "./column-definition";
import { decodeCommand, decodeExecuteParams, parsePrepareOk, serializePrepareOk } from "./commands";
import { Capability, ColumnType } from "./constants";
import { ProtocolError } from "./errors";
import { parseEof, parseErr, parseOk, serializeErr, serializeOk } from "./generic-packets";
import {
  isSslRequest,
  parseAuthMoreData,
  parseAuthSwitchRequest,
  parseHandshakeResponse,
  parseInitialHandshake,
  serializeHandshakeResponse,
  serializeInitialHandshake,
} from "./handshake-packets";
import { PacketReader, packet } from "./packet-reader";
import { decodeBinaryRow, decodeTextRow } from "./rows";

/**
 * Bad input at the MySQL door, byte by byte: arbitrary streams cut at arbitrary points read
 * exactly as when whole, a declared length over the bound is refused as soon as its header
 * is complete, the reader never holds more than one packet's bound, and every payload parser
 * returns or throws a ProtocolError, never anything else. SLUICE_FUZZ_RUNS sets the runs.
 */

const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 300;
const MAX = 600;

/** Packets whose header is right, or declares more than the bound; and raw noise. */
const streamArb = fc
  .array(
    fc.oneof(
      fc
        .tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 }))
        .map(([p, seq]) => packet(seq, Buffer.from(p))),
      fc
        .tuple(fc.integer({ min: MAX + 1, max: 0xffffff }), fc.integer({ min: 0, max: 255 }))
        .map(([n, seq]) => Buffer.from([n & 0xff, (n >> 8) & 0xff, n >> 16, seq])),
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

function read(chunks: Buffer[]) {
  const reader = new PacketReader({ maxPayload: MAX });
  const packets: { seq: number; payload: number[] }[] = [];
  let error: string | undefined;
  let pushed = 0;
  let refusedAt: number | undefined;
  try {
    for (const c of chunks) {
      reader.push(c);
      pushed += c.length;
      for (let p = reader.next(); p; p = reader.next()) {
        expect(p.payload.length).toBeLessThanOrEqual(MAX);
        packets.push({ seq: p.seq, payload: [...p.payload] });
      }
      expect(reader.buffered).toBeLessThan(MAX + 4);
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    error = (err as Error).message;
    refusedAt = pushed;
  }
  return { packets, error, refusedAt };
}

describe("MySQL packet framing under arbitrary bytes", () => {
  it("reads a stream cut anywhere exactly as the whole stream: the same packets, the same refusal", () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 20 }), (stream, offsets) => {
        const whole = read([stream]);
        const split = read(cut(stream, offsets));
        expect([split.packets, split.error]).toEqual([whole.packets, whole.error]);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses an oversized length as soon as its header is complete, without waiting for the payload", () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const r = read([...stream].map((b) => Buffer.from([b])));
        if (r.error === undefined) return;
        const consumed = r.packets.reduce((n, p) => n + 4 + p.payload.length, 0);
        expect(r.refusedAt).toBe(consumed + 4);
      }),
      { numRuns: RUNS },
    );
  });
});

const CAPS =
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CONNECT_WITH_DB |
  Capability.CONNECT_ATTRS |
  Capability.DEPRECATE_EOF;

/** Payloads real clients and servers send, to mutate. */
const valid = (): Buffer[] => [
  serializeHandshakeResponse({
    capabilities: CAPS,
    maxPacketSize: 1 << 24,
    collation: 45,
    username: "dev",
    authResponse: Buffer.from("sk_token\0"),
    database: "orders",
    authPluginName: "mysql_clear_password",
    attributes: { _client_name: "libmariadb", program_name: "mariadb" },
  }),
  serializeInitialHandshake({
    serverVersion: "8.0.36",
    connectionId: 7,
    authData: Buffer.alloc(20, 0x41),
    capabilities: CAPS,
    charset: 45,
    status: 2,
    authPluginName: "caching_sha2_password",
    mariadbCapabilities: 0,
  }),
  serializeOk({ affectedRows: 3, lastInsertId: 9, status: 2, warnings: 1, info: "x" }, CAPS),
  serializeErr({ errorCode: 1045, sqlState: "28000", message: "denied" }),
  serializeColumnDefinition({
    catalog: "def",
    schema: "s",
    table: "t",
    orgTable: "t",
    name: "c",
    orgName: "c",
    charset: 45,
    columnLength: 11,
    type: ColumnType.LONG,
    flags: 0,
    decimals: 0,
  }),
  serializePrepareOk({ statementId: 1, numColumns: 2, numParams: 2, warnings: 0 }),
  Buffer.from([0x03, ...Buffer.from("SELECT 1")]),
  Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 253, 0, 1, 0, 0, 0, 2, 0x61, 0x62]),
  Buffer.from([0x00, 0x00, 1, 0, 0, 0, 3, 0x61, 0x62, 0x63]),
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 9 }) }),
);

function mutate(payload: Buffer, steps: { op: string; at: number; value?: number; bytes?: Uint8Array }[]) {
  let b = Buffer.from(payload);
  for (const m of steps) {
    const at = b.length ? m.at % b.length : 0;
    if (m.op === "flip" && b.length) b[at] = m.value ?? 0;
    else if (m.op === "cut") b = b.subarray(0, at);
    else if (m.op === "insert")
      b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes ?? []), b.subarray(at)]);
  }
  return b;
}

const params = [
  { type: ColumnType.LONG, unsigned: false },
  { type: ColumnType.VAR_STRING, unsigned: false },
  { type: ColumnType.DATETIME, unsigned: false },
];
const columns = [
  { type: ColumnType.LONG, flags: 0 },
  { type: ColumnType.VAR_STRING, flags: 0 },
  { type: ColumnType.DATETIME, flags: 0 },
  { type: ColumnType.DOUBLE, flags: 0x20 },
];

/** Every payload parser the agent runs on what a client or server sent. */
function parseAll(payload: Buffer): void {
  const parsers = [
    () => parseHandshakeResponse(payload),
    () => isSslRequest(payload),
    () => parseInitialHandshake(payload),
    () => parseAuthSwitchRequest(payload),
    () => parseAuthMoreData(payload),
    () => parseOk(payload, CAPS),
    () => parseErr(payload),
    () => parseEof(payload, 0),
    () => parseColumnDefinition(payload),
    () => parsePrepareOk(payload),
    () => decodeCommand(payload),
    () => decodeExecuteParams(payload, 2, undefined),
    () => decodeExecuteParams(payload, 3, params),
    () => decodeTextRow(payload, 3),
    () => decodeBinaryRow(payload, columns),
  ];
  for (const parse of parsers) {
    try {
      parse();
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
  }
}

describe("MySQL payloads, arbitrary or with mutated fields", () => {
  it("parse to a value or a ProtocolError", () => {
    const payloads = valid();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
          fc
            .tuple(fc.constantFrom(...payloads), fc.array(mutation, { minLength: 1, maxLength: 4 }))
            .map(([p, steps]) => mutate(p, steps)),
        ),
        (payload) => parseAll(payload),
      ),
      { numRuns: RUNS * 4 },
    );
  });
});
