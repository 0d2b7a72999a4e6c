import { Capability } from "./constants";
import { ProtocolError } from "./errors";
import { PayloadReader } from "./payload-reader";
import { PayloadWriter } from "./payload-writer";

export interface OkPacket {
  /** 0x00 for OK, 0xFE for an OK that ends a result set (CLIENT_DEPRECATE_EOF). */
  header: number;
  affectedRows: bigint;
  lastInsertId: bigint;
  status: number;
  warnings: number;
  info: string;
  /** Raw session state change data (CLIENT_SESSION_TRACK and SERVER_SESSION_STATE_CHANGED). */
  sessionState?: Buffer;
}

export interface ErrPacket {
  errorCode: number;
  /** Five characters; "HY000" when the packet carries none. */
  sqlState: string;
  message: string;
}

export interface EofPacket {
  warnings: number;
  status: number;
}

export function isOkPacket(payload: Buffer): boolean {
  return payload.length >= 7 && payload[0] === 0x00;
}

export function isErrPacket(payload: Buffer): boolean {
  return payload.length >= 3 && payload[0] === 0xff;
}

/**
 * True for the packet that ends a row stream: a classic EOF (0xFE, < 9 bytes) or, with
 * CLIENT_DEPRECATE_EOF, an OK packet with the 0xFE header (shorter than 0xFFFFFF bytes,
 * which a row starting with a 8-byte length prefix can never be).
 */
export function isEofPacket(payload: Buffer, deprecateEof: boolean): boolean {
  if (payload.length === 0 || payload[0] !== 0xfe) return false;
  return deprecateEof ? payload.length < 0xffffff : payload.length < 9;
}

export function parseOk(payload: Buffer, capabilities: number): OkPacket {
  const r = new PayloadReader(payload);
  const header = r.u8();
  if (header !== 0x00 && header !== 0xfe) throw new ProtocolError("malformed_packet", "not an OK packet");
  const affectedRows = r.lenencBigInt();
  const lastInsertId = r.lenencBigInt();
  const status = r.atEnd() ? 0 : r.u16();
  const warnings = r.atEnd() ? 0 : r.u16();
  let info = "";
  let sessionState: Buffer | undefined;
  if (!r.atEnd()) {
    if (capabilities & Capability.SESSION_TRACK) {
      info = r.lenencString();
      if (status & 0x4000 && !r.atEnd()) sessionState = r.lenencBytes();
    } else {
      info = r.rest().toString("utf8");
    }
  }
  return {
    header,
    affectedRows,
    lastInsertId,
    status,
    warnings,
    info,
    ...(sessionState ? { sessionState } : {}),
  };
}

export function parseErr(payload: Buffer): ErrPacket {
  const r = new PayloadReader(payload);
  if (r.u8() !== 0xff) throw new ProtocolError("malformed_packet", "not an ERR packet");
  const errorCode = r.u16();
  let sqlState = "HY000";
  if (r.remaining >= 6 && payload[r.pos] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString("latin1");
  }
  return { errorCode, sqlState, message: r.rest().toString("utf8") };
}

/** Parses a classic EOF packet or an OK-as-EOF; returns its warnings and status flags. */
export function parseEof(payload: Buffer, capabilities: number): EofPacket {
  if (payload.length < 5 && payload.length !== 1) {
    throw new ProtocolError("malformed_packet", "EOF packet too short");
  }
  if (capabilities & Capability.DEPRECATE_EOF && payload.length > 5) {
    const ok = parseOk(payload, capabilities);
    return { warnings: ok.warnings, status: ok.status };
  }
  if (payload.length === 1) return { warnings: 0, status: 0 };
  return { warnings: payload.readUInt16LE(1), status: payload.readUInt16LE(3) };
}

/** Status flags of any packet ending a result (OK, OK-as-EOF, EOF); 0 for ERR. */
export function endStatus(payload: Buffer, capabilities: number): number {
  if (payload[0] === 0xff) return 0;
  if (payload[0] === 0x00) return parseOk(payload, capabilities).status;
  return parseEof(payload, capabilities).status;
}

export interface OkOptions {
  affectedRows?: bigint | number;
  lastInsertId?: bigint | number;
  status?: number;
  warnings?: number;
  info?: string;
  /** 0xFE for an OK that ends a result set. */
  header?: number;
}

export function serializeOk(options: OkOptions, capabilities: number): Buffer {
  const w = new PayloadWriter()
    .u8(options.header ?? 0)
    .lenencInt(options.affectedRows ?? 0)
    .lenencInt(options.lastInsertId ?? 0)
    .u16(options.status ?? 0)
    .u16(options.warnings ?? 0);
  const info = options.info ?? "";
  if (capabilities & Capability.SESSION_TRACK) {
    if (info.length > 0) w.lenencBytes(info);
  } else if (info.length > 0) {
    w.bytes(info);
  }
  return w.build();
}

export function serializeErr(err: ErrPacket): Buffer {
  const state = /^[0-9A-Z]{5}$/.test(err.sqlState) ? err.sqlState : "HY000";
  return new PayloadWriter().u8(0xff).u16(err.errorCode).bytes(`#${state}`).bytes(err.message).build();
}

export function serializeEof(eof: EofPacket): Buffer {
  return new PayloadWriter().u8(0xfe).u16(eof.warnings).u16(eof.status).build();
}
