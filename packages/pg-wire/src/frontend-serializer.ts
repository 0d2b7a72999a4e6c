import { serialize as pgSerialize } from "pg-protocol";
import type { BindMessage, ParseMessage } from "./frontend-messages";
import { FrontendCode, StartupCode } from "./message-codes";
import { MessageWriter } from "./message-writer";

function untypedRequest(code: number): Buffer {
  return new MessageWriter(undefined, 8).int32(code).finish();
}

/**
 * Serializers for messages a client sends. Where pg-protocol's serializer matches
 * the wire format exactly it is used; startup (pg-protocol always appends
 * client_encoding), Parse, Bind (per-parameter formats) and CancelRequest
 * (variable-length keys) are written here.
 */
export const frontend = {
  /** StartupMessage for protocol 3.0 (or another minor version) with key/value parameters. */
  startup(params: Record<string, string>, minor = 0): Buffer {
    const w = new MessageWriter(undefined, 128).int32(StartupCode.Protocol30 + minor);
    for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
    return w.int8(0).finish();
  },
  sslRequest: (): Buffer => untypedRequest(StartupCode.SSLRequest),
  gssEncRequest: (): Buffer => untypedRequest(StartupCode.GSSENCRequest),
  cancelRequest(processId: number, secretKey: Buffer): Buffer {
    return new MessageWriter(undefined, 16 + secretKey.length)
      .int32(StartupCode.CancelRequest)
      .int32(processId)
      .bytes(secretKey)
      .finish();
  },
  password: (password: string): Buffer => pgSerialize.password(password),
  saslInitialResponse: (mechanism: string, data: string): Buffer =>
    pgSerialize.sendSASLInitialResponseMessage(mechanism, data),
  saslResponse: (data: string): Buffer => pgSerialize.sendSCRAMClientFinalMessage(data),
  query: (text: string): Buffer => pgSerialize.query(text),
  parse(m: Partial<ParseMessage> & { text: string }): Buffer {
    const types = m.paramTypes ?? [];
    const w = new MessageWriter(FrontendCode.Parse, 16 + m.text.length)
      .cstring(m.name ?? "")
      .cstring(m.text)
      .int16(types.length);
    for (const t of types) w.int32(t);
    return w.finish();
  },
  bind(m: Partial<BindMessage>): Buffer {
    const values = m.values ?? [];
    const w = new MessageWriter(FrontendCode.Bind).cstring(m.portal ?? "").cstring(m.statement ?? "");
    writeInt16List(w, m.paramFormats ?? []);
    w.int16(values.length);
    for (const v of values) {
      if (v === null) w.int32(-1);
      else w.int32(v.length).bytes(v);
    }
    writeInt16List(w, m.resultFormats ?? []);
    return w.finish();
  },
  describe: (target: "S" | "P", name = ""): Buffer => pgSerialize.describe({ type: target, name }),
  close: (target: "S" | "P", name = ""): Buffer => pgSerialize.close({ type: target, name }),
  execute: (portal = "", maxRows = 0): Buffer => pgSerialize.execute({ portal, rows: maxRows }),
  sync: (): Buffer => pgSerialize.sync(),
  flush: (): Buffer => pgSerialize.flush(),
  copyData: (data: Buffer): Buffer => pgSerialize.copyData(data),
  copyDone: (): Buffer => pgSerialize.copyDone(),
  copyFail: (message: string): Buffer => pgSerialize.copyFail(message),
  terminate: (): Buffer => pgSerialize.end(),
};

function writeInt16List(w: MessageWriter, list: readonly number[]): void {
  w.int16(list.length);
  for (const v of list) w.int16(v);
}
