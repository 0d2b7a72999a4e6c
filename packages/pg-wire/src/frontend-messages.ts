import { ProtocolError } from "./errors";
import { FrontendCode, StartupCode } from "./message-codes";
import { MessageReader } from "./message-reader";

export type StartupFrame =
  | { kind: "startup"; major: number; minor: number; params: Record<string, string> }
  | { kind: "ssl" }
  | { kind: "gssenc" }
  | { kind: "cancel"; processId: number; secretKey: Buffer };

/** Longest cancel secret key accepted (protocol 3.2 allows up to 256 bytes). */
export const MAX_CANCEL_KEY_LENGTH = 256;

/** Parses the body (after the length) of an untyped startup-phase frame. */
export function parseStartupFrame(body: Buffer): StartupFrame {
  const r = new MessageReader(body, "startup");
  const code = r.int32();
  if (code === StartupCode.SSLRequest || code === StartupCode.GSSENCRequest) {
    r.done();
    return { kind: code === StartupCode.SSLRequest ? "ssl" : "gssenc" };
  }
  if (code === StartupCode.CancelRequest) {
    const processId = r.int32();
    const secretKey = Buffer.from(r.rest());
    if (secretKey.length < 4 || secretKey.length > MAX_CANCEL_KEY_LENGTH) {
      r.malformed(`cancel key of ${secretKey.length} bytes (expected 4 to ${MAX_CANCEL_KEY_LENGTH})`);
    }
    return { kind: "cancel", processId, secretKey };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  return { kind: "startup", major, minor, params: readStartupParams(r) };
}

function readStartupParams(r: MessageReader): Record<string, string> {
  const params: Record<string, string> = Object.create(null);
  for (;;) {
    const key = r.cstring();
    if (key === "") break;
    params[key] = r.cstring();
  }
  r.done();
  return params;
}

export interface ParseMessage {
  name: string;
  text: string;
  paramTypes: number[];
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** 0 text, 1 binary; empty means all text, one entry applies to all parameters. */
  paramFormats: number[];
  /** Parameter values as views of the frame; null is SQL NULL. */
  values: (Buffer | null)[];
  resultFormats: number[];
}

export interface TargetMessage {
  /** 'S' prepared statement or 'P' portal. */
  target: "S" | "P";
  name: string;
}

export interface ExecuteMessage {
  portal: string;
  maxRows: number;
}

export interface SASLInitialResponse {
  mechanism: string;
  /** null when the client sent length -1. */
  data: Buffer | null;
}

export function parseQuery(body: Buffer): string {
  const r = new MessageReader(body, "Query");
  const text = r.cstring();
  r.done();
  return text;
}

export function parseParse(body: Buffer): ParseMessage {
  const r = new MessageReader(body, "Parse");
  const name = r.cstring();
  const text = r.cstring();
  const n = r.count(r.int16(), 4);
  const paramTypes: number[] = new Array(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
  r.done();
  return { name, text, paramTypes };
}

export function parseBind(body: Buffer): BindMessage {
  const r = new MessageReader(body, "Bind");
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = readInt16List(r);
  const n = r.count(r.int16(), 4);
  const values: (Buffer | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    values[i] = len === -1 ? null : r.bytes(len);
  }
  const resultFormats = readInt16List(r);
  r.done();
  if (paramFormats.length > 1 && paramFormats.length !== n) {
    r.malformed(`${paramFormats.length} parameter formats for ${n} parameters`);
  }
  return { portal, statement, paramFormats, values, resultFormats };
}

function readInt16List(r: MessageReader): number[] {
  const n = r.count(r.int16(), 2);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int16();
  return out;
}

/** Format code (0 text, 1 binary) that applies to column/parameter `i` given a format list. */
export function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
}

function parseTarget(body: Buffer, what: string): TargetMessage {
  const r = new MessageReader(body, what);
  const t = r.int8();
  if (t !== 0x53 && t !== 0x50) r.malformed(`unknown target '${String.fromCharCode(t)}'`);
  const name = r.cstring();
  r.done();
  return { target: t === 0x53 ? "S" : "P", name };
}

export function parseDescribe(body: Buffer): TargetMessage {
  return parseTarget(body, "Describe");
}

export function parseClose(body: Buffer): TargetMessage {
  return parseTarget(body, "Close");
}

export function parseExecute(body: Buffer): ExecuteMessage {
  const r = new MessageReader(body, "Execute");
  const portal = r.cstring();
  const maxRows = r.int32();
  r.done();
  return { portal, maxRows };
}

export function parsePasswordMessage(body: Buffer): string {
  const r = new MessageReader(body, "PasswordMessage");
  const password = r.cstring();
  r.done();
  return password;
}

export function parseSASLInitialResponse(body: Buffer): SASLInitialResponse {
  const r = new MessageReader(body, "SASLInitialResponse");
  const mechanism = r.cstring();
  const len = r.int32();
  const data = len === -1 ? null : r.bytes(len);
  r.done();
  return { mechanism, data };
}

/** SASLResponse and CopyData carry raw bytes: the body itself. */
export function parseSASLResponse(body: Buffer): Buffer {
  return body;
}

export function parseCopyFail(body: Buffer): string {
  const r = new MessageReader(body, "CopyFail");
  const message = r.cstring();
  r.done();
  return message;
}

/** Checks that a message which carries no body (Sync, Flush, CopyDone, Terminate) has none. */
export function parseEmpty(type: number, body: Buffer): void {
  if (body.length !== 0) {
    throw new ProtocolError("malformed_message", `message '${String.fromCharCode(type)}' must be empty`);
  }
}

export type FrontendMessage =
  | { type: "query"; text: string }
  | ({ type: "parse" } & ParseMessage)
  | ({ type: "bind" } & BindMessage)
  | ({ type: "describe" } & TargetMessage)
  | ({ type: "close" } & TargetMessage)
  | ({ type: "execute" } & ExecuteMessage)
  | { type: "sync" | "flush" | "copyDone" | "terminate" }
  | { type: "copyData"; data: Buffer }
  | { type: "copyFail"; message: string }
  | { type: "password"; data: Buffer }
  | { type: "functionCall"; body: Buffer };

/** Decodes a typed frontend message after the startup phase. 'p' stays raw: its meaning depends on the auth exchange. */
export function parseFrontendMessage(type: number, body: Buffer): FrontendMessage {
  switch (type) {
    case FrontendCode.Query:
      return { type: "query", text: parseQuery(body) };
    case FrontendCode.Parse:
      return { type: "parse", ...parseParse(body) };
    case FrontendCode.Bind:
      return { type: "bind", ...parseBind(body) };
    case FrontendCode.Describe:
      return { type: "describe", ...parseDescribe(body) };
    case FrontendCode.Close:
      return { type: "close", ...parseClose(body) };
    case FrontendCode.Execute:
      return { type: "execute", ...parseExecute(body) };
    case FrontendCode.CopyData:
      return { type: "copyData", data: body };
    case FrontendCode.CopyFail:
      return { type: "copyFail", message: parseCopyFail(body) };
    case FrontendCode.Password:
      return { type: "password", data: body };
    case FrontendCode.FunctionCall:
      return { type: "functionCall", body };
    default:
      return parseBodyless(type, body);
  }
}

const bodyless: Record<number, "sync" | "flush" | "copyDone" | "terminate"> = {
  [FrontendCode.Sync]: "sync",
  [FrontendCode.Flush]: "flush",
  [FrontendCode.CopyDone]: "copyDone",
  [FrontendCode.Terminate]: "terminate",
};

function parseBodyless(type: number, body: Buffer): FrontendMessage {
  const name = bodyless[type];
  if (!name) {
    throw new ProtocolError("unexpected_message", `unknown frontend message type 0x${type.toString(16)}`);
  }
  parseEmpty(type, body);
  return { type: name };
}
