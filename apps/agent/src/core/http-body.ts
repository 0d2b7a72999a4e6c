import type { IncomingMessage } from "node:http";

/** Reads up to `limit` bytes of a request body; `complete` is false when more is left unread. */
export function readBodyPrefix(
  req: IncomingMessage,
  limit: number,
): Promise<{ buf: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      resolve({ buf: Buffer.concat(parts, size), complete });
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    const onError = (err: Error) => {
      req.off("data", onData);
      req.off("end", onEnd);
      reject(err);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    if (req.readableEnded) done(true);
  });
}
