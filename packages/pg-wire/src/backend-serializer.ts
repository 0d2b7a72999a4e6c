import type { BackendKeyData, FieldDescription, NoticeFields, TransactionStatus } from "./backend-messages";
import { AuthCode, BackendCode } from "./message-codes";
import { MessageWriter } from "./message-writer";

export { serializeDataRow } from "./data-row";

function auth(code: number, extra?: (w: MessageWriter) => void): Buffer {
  const w = new MessageWriter(BackendCode.Authentication, 32).int32(code);
  extra?.(w);
  return w.finish();
}

function fields(type: number, f: NoticeFields): Buffer {
  const w = new MessageWriter(type, 128);
  for (const [k, v] of Object.entries(f)) {
    if (k.length !== 1) continue;
    w.int8(k.charCodeAt(0)).cstring(v);
  }
  return w.int8(0).finish();
}

function simple(type: number): Buffer {
  return new MessageWriter(type, 5).finish();
}

/** Serializers for messages a server sends (the proxy synthesizes several toward its clients). */
export const backend = {
  authenticationOk: (): Buffer => auth(AuthCode.Ok),
  authenticationCleartextPassword: (): Buffer => auth(AuthCode.CleartextPassword),
  authenticationMD5Password: (salt: Buffer): Buffer => auth(AuthCode.MD5Password, (w) => w.bytes(salt)),
  authenticationSASL: (mechanisms: readonly string[]): Buffer =>
    auth(AuthCode.SASL, (w) => {
      for (const m of mechanisms) w.cstring(m);
      w.int8(0);
    }),
  authenticationSASLContinue: (data: string | Buffer): Buffer =>
    auth(AuthCode.SASLContinue, (w) => (typeof data === "string" ? w.string(data) : w.bytes(data))),
  authenticationSASLFinal: (data: string | Buffer): Buffer =>
    auth(AuthCode.SASLFinal, (w) => (typeof data === "string" ? w.string(data) : w.bytes(data))),
  parameterStatus: (name: string, value: string): Buffer =>
    new MessageWriter(BackendCode.ParameterStatus).cstring(name).cstring(value).finish(),
  notificationResponse: (processId: number, channel: string, payload: string): Buffer =>
    new MessageWriter(BackendCode.NotificationResponse)
      .int32(processId)
      .cstring(channel)
      .cstring(payload)
      .finish(),
  backendKeyData: (k: BackendKeyData): Buffer =>
    new MessageWriter(BackendCode.BackendKeyData, 16).int32(k.processId).bytes(k.secretKey).finish(),
  rowDescription(fieldList: readonly FieldDescription[]): Buffer {
    const w = new MessageWriter(BackendCode.RowDescription, 7 + fieldList.length * 32).int16(
      fieldList.length,
    );
    for (const f of fieldList) {
      w.cstring(f.name).int32(f.tableOid).int16(f.columnAttr).int32(f.typeOid);
      w.int16(f.typeSize).int32(f.typeModifier).int16(f.format);
    }
    return w.finish();
  },
  commandComplete: (tag: string): Buffer =>
    new MessageWriter(BackendCode.CommandComplete).cstring(tag).finish(),
  errorResponse: (f: NoticeFields): Buffer => fields(BackendCode.ErrorResponse, f),
  noticeResponse: (f: NoticeFields): Buffer => fields(BackendCode.NoticeResponse, f),
  readyForQuery: (status: TransactionStatus): Buffer =>
    new MessageWriter(BackendCode.ReadyForQuery, 6).int8(status.charCodeAt(0)).finish(),
  emptyQueryResponse: (): Buffer => simple(BackendCode.EmptyQueryResponse),
  parseComplete: (): Buffer => simple(BackendCode.ParseComplete),
  bindComplete: (): Buffer => simple(BackendCode.BindComplete),
  noData: (): Buffer => simple(BackendCode.NoData),
  negotiateProtocolVersion: (newestMinor: number, unrecognized: readonly string[]): Buffer => {
    const w = new MessageWriter(BackendCode.NegotiateProtocolVersion)
      .int32(newestMinor)
      .int32(unrecognized.length);
    for (const o of unrecognized) w.cstring(o);
    return w.finish();
  },
};

/** An ErrorResponse with the usual fields: severity ERROR/FATAL, SQLSTATE and message. */
export function errorFrame(sqlState: string, message: string, severity: "ERROR" | "FATAL" = "FATAL"): Buffer {
  return backend.errorResponse({ S: severity, V: severity, C: sqlState, M: message });
}
