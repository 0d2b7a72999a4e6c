/** Paths outside the resource tree: /version, discovery, OpenAPI and health checks. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { discoveryReply } from "./discovery";
import { sendJson } from "./http-io";
import { OPENAPI_V2_JSON, openApiV3ForPath, openApiV3Root } from "./openapi";

/** Answers the request when its path is one of these; false leaves it to the caller. */
export function serveNonResource(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  serverAddress: string,
): boolean {
  const accept = String(req.headers.accept ?? "");
  const discovery = discoveryReply(url.pathname, accept, serverAddress);
  if (discovery) {
    sendJson(res, 200, discovery.body, discovery.contentType);
    return true;
  }
  if (url.pathname === "/openapi/v2") {
    // An empty protobuf Document is zero bytes: valid, with no definitions.
    if (accept.includes("protobuf")) {
      res.writeHead(200, {
        "Content-Type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        "Content-Length": 0,
      });
      res.end();
    } else sendJson(res, 200, OPENAPI_V2_JSON);
    return true;
  }
  const v3 =
    url.pathname === "/openapi/v3"
      ? openApiV3Root()
      : url.pathname.startsWith("/openapi/v3/")
        ? openApiV3ForPath(url.pathname)
        : undefined;
  if (v3) {
    sendJson(res, 200, v3);
    return true;
  }
  if (["/healthz", "/livez", "/readyz"].includes(url.pathname)) {
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("ok");
    return true;
  }
  return false;
}
