import { type BinaryValue, readBinaryValue } from "./binary-values";
import { Command } from "./constants";
import { ProtocolError } from "./errors";
import { PayloadReader } from "./payload-reader";
import { PayloadWriter } from "./payload-writer";
import { nullBitmapSize } from "./rows";

/** Type of one COM_STMT_EXECUTE parameter as bound by the client. */
export interface ParamType {
  type: number;
  unsigned: boolean;
}

export interface ExecuteParam extends ParamType {
  /** Decoded value; null for NULL; undefined when sent earlier with COM_STMT_SEND_LONG_DATA. */
  value: BinaryValue | undefined;
}

export type ClientCommand =
  | { kind: "query"; sql: string }
  | { kind: "init_db"; schema: string }
  | { kind: "stmt_prepare"; sql: string }
  | {
      kind: "stmt_execute";
      statementId: number;
      flags: number;
      iterations: number;
      newParamsBound: boolean;
      raw: Buffer;
    }
  | { kind: "stmt_close"; statementId: number }
  | { kind: "stmt_reset"; statementId: number }
  | { kind: "stmt_send_long_data"; statementId: number; paramId: number; data: Buffer }
  | { kind: "stmt_fetch"; statementId: number; rows: number }
  | { kind: "ping" }
  | { kind: "quit" }
  | { kind: "reset_connection" }
  | { kind: "change_user"; user: string }
  | { kind: "process_kill"; connectionId: number }
  | { kind: "set_option"; option: number }
  | { kind: "field_list"; table: string }
  | { kind: "statistics" }
  | { kind: "other"; code: number };

/** Decodes a command packet's payload. COM_STMT_EXECUTE params need {@link decodeExecuteParams}. */
export function decodeCommand(payload: Buffer): ClientCommand {
  if (payload.length === 0) throw new ProtocolError("malformed_packet", "empty command packet");
  const r = new PayloadReader(payload, 1);
  const code = payload[0]!;
  switch (code) {
    case Command.QUERY:
      return { kind: "query", sql: r.rest().toString("utf8") };
    case Command.INIT_DB:
      return { kind: "init_db", schema: r.rest().toString("utf8") };
    case Command.STMT_PREPARE:
      return { kind: "stmt_prepare", sql: r.rest().toString("utf8") };
    case Command.STMT_EXECUTE: {
      const statementId = r.u32();
      const flags = r.u8();
      const iterations = r.u32();
      return { kind: "stmt_execute", statementId, flags, iterations, newParamsBound: false, raw: payload };
    }
    case Command.STMT_CLOSE:
      return { kind: "stmt_close", statementId: r.u32() };
    case Command.STMT_RESET:
      return { kind: "stmt_reset", statementId: r.u32() };
    case Command.STMT_SEND_LONG_DATA:
      return { kind: "stmt_send_long_data", statementId: r.u32(), paramId: r.u16(), data: r.rest() };
    case Command.STMT_FETCH:
      return { kind: "stmt_fetch", statementId: r.u32(), rows: r.u32() };
    case Command.PING:
      return { kind: "ping" };
    case Command.QUIT:
      return { kind: "quit" };
    case Command.RESET_CONNECTION:
      return { kind: "reset_connection" };
    case Command.CHANGE_USER:
      return { kind: "change_user", user: r.nulString(512) };
    case Command.PROCESS_KILL:
      return { kind: "process_kill", connectionId: r.u32() };
    case Command.SET_OPTION:
      return { kind: "set_option", option: r.u16() };
    case Command.FIELD_LIST:
      return { kind: "field_list", table: r.nulString(512) };
    case Command.STATISTICS:
      return { kind: "statistics" };
    default:
      return { kind: "other", code };
  }
}

export interface DecodedExecuteParams {
  /** True when this packet bound new types; otherwise `types` are the previous ones. */
  newParamsBound: boolean;
  types: ParamType[];
  params: ExecuteParam[];
}

/**
 * Decodes the parameters of a COM_STMT_EXECUTE payload. `paramCount` comes from the
 * prepare response; `previousTypes` are the types bound by the last execute of the same
 * statement (used when new_params_bound_flag is 0); `longData` marks params sent with
 * COM_STMT_SEND_LONG_DATA (their value is not in the packet).
 */
export function decodeExecuteParams(
  payload: Buffer,
  paramCount: number,
  previousTypes: readonly ParamType[] | undefined,
  longData: ReadonlySet<number> = new Set(),
): DecodedExecuteParams {
  const r = new PayloadReader(payload, 10);
  if (paramCount === 0) return { newParamsBound: false, types: [], params: [] };
  const bitmap = r.bytes(nullBitmapSize(paramCount, 0));
  const newParamsBound = r.u8() === 1;
  let types: ParamType[];
  if (newParamsBound) {
    types = [];
    for (let i = 0; i < paramCount; i++) {
      const type = r.u8();
      const flag = r.u8();
      types.push({ type, unsigned: (flag & 0x80) !== 0 });
    }
  } else if (previousTypes && previousTypes.length === paramCount) {
    types = [...previousTypes];
  } else {
    throw new ProtocolError("malformed_packet", "COM_STMT_EXECUTE without parameter types");
  }
  const params: ExecuteParam[] = types.map((t, i) => {
    const isNull = (bitmap[i >> 3]! & (1 << (i & 7))) !== 0;
    if (isNull) return { ...t, value: null };
    if (longData.has(i)) return { ...t, value: undefined };
    return { ...t, value: readBinaryValue(r, t.type, t.unsigned) };
  });
  return { newParamsBound, types, params };
}

export interface PrepareOk {
  statementId: number;
  numColumns: number;
  numParams: number;
  warnings: number;
}

/** Parses COM_STMT_PREPARE_OK (first packet of a successful prepare response). */
export function parsePrepareOk(payload: Buffer): PrepareOk {
  const r = new PayloadReader(payload);
  if (r.u8() !== 0x00) throw new ProtocolError("malformed_packet", "not a COM_STMT_PREPARE_OK packet");
  const statementId = r.u32();
  const numColumns = r.u16();
  const numParams = r.u16();
  r.skip(1);
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  return { statementId, numColumns, numParams, warnings };
}

export function serializePrepareOk(ok: PrepareOk): Buffer {
  return new PayloadWriter()
    .u8(0)
    .u32(ok.statementId)
    .u16(ok.numColumns)
    .u16(ok.numParams)
    .u8(0)
    .u16(ok.warnings)
    .build();
}

export function serializeQuery(sql: string): Buffer {
  return new PayloadWriter().u8(Command.QUERY).bytes(sql).build();
}

export function serializeProcessKill(connectionId: number): Buffer {
  return new PayloadWriter().u8(Command.PROCESS_KILL).u32(connectionId).build();
}

export function serializeSimpleCommand(code: number): Buffer {
  return Buffer.from([code]);
}
