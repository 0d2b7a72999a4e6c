import http from "node:http";
import { CliError } from "../errors";
import { openSessionTunnel, type StartedSession } from "./session";

export const HTTP_METHOD = /^[A-Z]{1,20}$/;
export const HTTP_HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/** The agent holds the upstream's credential and the tunnel carries the identity: these are not the caller's to set. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "authorization",
  "proxy-authorization",
  "content-length",
  "transfer-encoding",
  "connection",
]);

export interface HttpRequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

/** Sends one HTTP request over a new tunnel to the session's agent; resolves with the response head. */
export async function requestThroughAgent(
  started: StartedSession,
  caPem: string,
  spec: HttpRequestSpec,
): Promise<http.IncomingMessage> {
  const tunnel = await openSessionTunnel(started, caPem);
  return new Promise((resolve, reject) => {
    const req = http.request({
      method: spec.method,
      path: spec.path,
      host: "localhost",
      headers: {
        ...spec.headers,
        ...(spec.body ? { "content-length": String(spec.body.length) } : {}),
        connection: "close",
      },
      // openTunnel hands the socket over paused; the HTTP client reads the response from it.
      createConnection: () => tunnel.socket.resume() as never,
    });
    req.once("response", resolve);
    req.once("error", (err) => reject(new CliError(`the request through the agent failed: ${err.message}`)));
    req.end(spec.body);
  });
}
