import { ProtocolError } from "./errors";
import { AuthCode, BackendCode } from "./message-codes";
import { MessageReader } from "./message-reader";

/** An Authentication request; `code` is one of {@link AuthCode}. */
export interface AuthenticationMessage {
  code: number;
  /** MD5Password: the 4-byte salt. */
  salt?: Buffer;
  /** SASL: the offered mechanisms. */
  mechanisms?: string[];
  /** SASLContinue, SASLFinal and other methods: the payload. */
  data?: Buffer;
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  /** 0 text, 1 binary. */
  format: number;
}

/** ErrorResponse/NoticeResponse fields keyed by their one-letter code (S, V, C, M, D, H, P, ...). */
export type NoticeFields = Record<string, string>;

export type TransactionStatus = "I" | "T" | "E";

export interface BackendKeyData {
  processId: number;
  /** 4 bytes in protocol 3.0; up to 256 in 3.2. */
  secretKey: Buffer;
}

export function parseAuthentication(body: Buffer): AuthenticationMessage {
  const r = new MessageReader(body, "Authentication");
  const code = r.int32();
  switch (code) {
    case AuthCode.Ok:
    case AuthCode.CleartextPassword:
      r.done();
      return { code };
    case AuthCode.MD5Password: {
      const salt = r.bytes(4);
      r.done();
      return { code, salt };
    }
    case AuthCode.SASL:
      return { code, mechanisms: readMechanisms(r) };
    default:
      return { code, data: r.rest() };
  }
}

function readMechanisms(r: MessageReader): string[] {
  const out: string[] = [];
  for (;;) {
    const m = r.cstring();
    if (m === "") break;
    out.push(m);
  }
  r.done();
  return out;
}

export function parseParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new MessageReader(body, "ParameterStatus");
  const name = r.cstring();
  const value = r.cstring();
  r.done();
  return { name, value };
}

/** NotificationResponse (LISTEN/NOTIFY): the notifying backend's process id, the channel and the payload. */
export function parseNotificationResponse(body: Buffer): {
  processId: number;
  channel: string;
  payload: string;
} {
  const r = new MessageReader(body, "NotificationResponse");
  const processId = r.int32();
  const channel = r.cstring();
  const payload = r.cstring();
  r.done();
  return { processId, channel, payload };
}

export function parseBackendKeyData(body: Buffer): BackendKeyData {
  const r = new MessageReader(body, "BackendKeyData");
  const processId = r.int32();
  const secretKey = r.rest();
  if (secretKey.length < 4 || secretKey.length > 256) r.malformed(`secret key of ${secretKey.length} bytes`);
  return { processId, secretKey };
}

export function parseRowDescription(body: Buffer): FieldDescription[] {
  const r = new MessageReader(body, "RowDescription");
  const n = r.count(r.int16(), 19);
  const fields: FieldDescription[] = new Array(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstring(),
      tableOid: r.uint32(),
      columnAttr: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    };
  }
  r.done();
  return fields;
}

export function parseCommandComplete(body: Buffer): string {
  const r = new MessageReader(body, "CommandComplete");
  const tag = r.cstring();
  r.done();
  return tag;
}

/** Parses ErrorResponse and NoticeResponse bodies. */
export function parseNoticeFields(body: Buffer): NoticeFields {
  const r = new MessageReader(body, "ErrorResponse");
  const fields: NoticeFields = Object.create(null);
  for (;;) {
    const code = r.int8();
    if (code === 0) break;
    fields[String.fromCharCode(code)] = r.cstring();
  }
  r.done();
  return fields;
}

export function parseReadyForQuery(body: Buffer): TransactionStatus {
  const r = new MessageReader(body, "ReadyForQuery");
  const s = String.fromCharCode(r.int8());
  r.done();
  if (s !== "I" && s !== "T" && s !== "E") return r.malformed(`unknown transaction status '${s}'`);
  return s;
}

export function parseNegotiateProtocolVersion(body: Buffer): { newestMinor: number; unrecognized: string[] } {
  const r = new MessageReader(body, "NegotiateProtocolVersion");
  const newestMinor = r.int32();
  const n = r.count(r.int32(), 1);
  const unrecognized: string[] = [];
  for (let i = 0; i < n; i++) unrecognized.push(r.cstring());
  r.done();
  return { newestMinor, unrecognized };
}

export type BackendMessage =
  | { type: "authentication"; auth: AuthenticationMessage }
  | { type: "parameterStatus"; name: string; value: string }
  | ({ type: "backendKeyData" } & BackendKeyData)
  | { type: "rowDescription"; fields: FieldDescription[] }
  | { type: "dataRow"; body: Buffer }
  | { type: "commandComplete"; tag: string }
  | { type: "errorResponse" | "noticeResponse"; fields: NoticeFields }
  | { type: "readyForQuery"; status: TransactionStatus }
  | { type: "other"; code: number; body: Buffer };

/** Decodes the backend messages the proxy reads; everything else is returned raw as "other". */
export function parseBackendMessage(type: number, body: Buffer): BackendMessage {
  switch (type) {
    case BackendCode.Authentication:
      return { type: "authentication", auth: parseAuthentication(body) };
    case BackendCode.ParameterStatus:
      return { type: "parameterStatus", ...parseParameterStatus(body) };
    case BackendCode.BackendKeyData:
      return { type: "backendKeyData", ...parseBackendKeyData(body) };
    case BackendCode.RowDescription:
      return { type: "rowDescription", fields: parseRowDescription(body) };
    case BackendCode.DataRow:
      return { type: "dataRow", body };
    case BackendCode.CommandComplete:
      return { type: "commandComplete", tag: parseCommandComplete(body) };
    case BackendCode.ErrorResponse:
      return { type: "errorResponse", fields: parseNoticeFields(body) };
    case BackendCode.NoticeResponse:
      return { type: "noticeResponse", fields: parseNoticeFields(body) };
    case BackendCode.ReadyForQuery:
      return { type: "readyForQuery", status: parseReadyForQuery(body) };
    default:
      return { type: "other", code: type, body };
  }
}

/** Throws unless `type` is the expected message type. */
export function expectType(type: number, expected: number, context: string): void {
  if (type !== expected) {
    throw new ProtocolError(
      "unexpected_message",
      `unexpected message '${String.fromCharCode(type)}' ${context} (expected '${String.fromCharCode(expected)}')`,
    );
  }
}
