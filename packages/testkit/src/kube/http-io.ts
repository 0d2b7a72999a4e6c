/** Reading bounded request bodies and writing JSON or Status answers, on responses and raw sockets. */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { failure, KubeStatusError, type StatusBody, statusError } from "./status";

/** The API server's request body limit (3 MiB); larger bodies get 413. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** A client that stops sending mid-body cannot hold a request (and a test) open forever. */
const BODY_TIMEOUT_MS = 30_000;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    const tooLarge = () =>
      statusError(413, "RequestEntityTooLarge", `Request entity too large: limit is ${MAX_BODY_BYTES}`);
    if (declared > MAX_BODY_BYTES) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.destroy();
      reject(statusError(408, "Timeout", "request body was not received in time"));
    }, BODY_TIMEOUT_MS);
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        clearTimeout(timer);
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export function toStatus(err: unknown): StatusBody {
  if (err instanceof KubeStatusError) return err.status;
  const message = err instanceof Error ? err.message : String(err);
  return failure(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] });
}

export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = "application/json") {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-cache, private",
    "Audit-Id": randomUUID(),
  });
  res.end(text);
}

export function sendStatus(res: ServerResponse, err: unknown) {
  const status = toStatus(err);
  sendJson(res, status.code, status);
}

/** A Status answer written straight onto an upgrade socket that was never upgraded. */
export function rejectUpgrade(socket: Duplex, err: unknown): number {
  const status = toStatus(err);
  const text = JSON.stringify(status);
  const head =
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? "Error"}\r\n` +
    "Content-Type: application/json\r\n" +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    "Connection: close\r\n\r\n";
  socket.end(head + text);
  return status.code;
}
