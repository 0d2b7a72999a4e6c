import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "@sluice/logger";
import { maskBodyPreview, type NormalizedTarget } from "@sluice/policy";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { type HttpSession, upstreamHeaders, upstreamPath } from "./http-exchange";
import { decide, heldText, httpGuardOf } from "./http-policy";
import { recordedHeaders, recordedQuery, scrubSecret } from "./http-recorder";
import { rawError } from "./http-reply";

/** Largest WebSocket message relayed either way; a bigger one closes the socket (1009). */
export const MAX_WS_MESSAGE = 16 * 1024 * 1024;

/** Headers the WebSocket client sets itself (or that belong to this hop only). */
const WS_OWN = /^sec-websocket-(key|version|extensions|accept)$/;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * WebSocket upgrades: the upgrade request passes the same policy as any request, the
 * agent opens the upstream socket with the credential it holds, and every message is
 * recorded (text masked, binary by size) before it is relayed.
 */
export function createWebSocketProxy(deps: { logger: Logger }) {
  /** The subprotocol the upstream chose, answered to the client for the same upgrade. */
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WS_MESSAGE,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => chosen.get(req) || false,
  });

  function relay(s: HttpSession, client: WebSocket, upstream: WebSocket): void {
    const { ctx } = s;
    const limit = s.target.recordBodyBytes;
    const forward = (direction: "client" | "server", to: WebSocket) => (raw: RawData, binary: boolean) => {
      let data = toBuffer(raw);
      let text: string | undefined;
      if (!binary) {
        text = data.toString("utf8");
        if (direction === "server" && s.masking && !s.masking.empty) {
          const type = /^\s*[[{]/.test(text) ? "application/json" : "text/plain";
          const masked = maskBodyPreview(s.masking, data, type);
          if (masked !== text) {
            text = masked;
            data = Buffer.from(masked, "utf8");
          }
        }
      }
      ctx.record("http.ws", {
        direction,
        binary,
        bytes: data.length,
        ...(text !== undefined ? { data: scrubSecret(text.slice(0, limit), s.credential.secret) } : {}),
        ...(text !== undefined && text.length > limit ? { truncated: true } : {}),
      });
      if (direction === "client") s.bytesIn += data.length;
      else s.bytesOut += data.length;
      try {
        ctx.commit();
      } catch {
        client.terminate();
        upstream.terminate();
        return;
      }
      if (to.readyState === WebSocket.OPEN) to.send(data, { binary });
    };
    client.on("message", forward("client", upstream));
    upstream.on("message", forward("server", client));
    const closeOther = (other: WebSocket) => (code: number, reason: Buffer) => {
      const usable = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006;
      if (other.readyState === WebSocket.OPEN) other.close(usable ? code : 1000, reason.subarray(0, 123));
      else other.terminate();
    };
    client.on("close", closeOther(upstream));
    upstream.on("close", closeOther(client));
    client.on("error", () => upstream.terminate());
    upstream.on("error", () => client.terminate());
  }

  async function upgrade(
    s: HttpSession,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: NormalizedTarget,
  ): Promise<void> {
    const { ctx } = s;
    const started = performance.now();
    const line = `GET ${target.path}${target.query ? `?${recordedQuery(target.query)}` : ""} (websocket)`;
    const ev = {
      method: "GET",
      path: target.path,
      query: recordedQuery(target.query),
      requestHeaders: recordedHeaders(req.headers),
    };
    const record = (status: number, extra: Record<string, unknown> = {}) => {
      ctx.record("http.exchange", {
        ...ev,
        status,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        ...extra,
      });
      ctx.commit();
    };
    if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
      record(400, { error: "only WebSocket upgrades are proxied" });
      return rawError(socket, 400, "request.invalid", "only WebSocket upgrades are proxied");
    }
    const guard = httpGuardOf(ctx.policy);
    if (guard) {
      const verdict = guard.evaluate({
        method: "GET",
        path: target.path,
        params: target.params,
        headers: req.headers,
        query: target.query,
      });
      const aborted = new AbortController();
      socket.once("close", () => aborted.abort());
      const decision = await decide(
        ctx,
        verdict,
        () => heldText(line, req, Buffer.alloc(0), s.masking),
        aborted.signal,
      );
      if (!decision.allow) {
        record(decision.status, { verdict: "denied", rule: decision.rule ?? null });
        return rawError(socket, decision.status, decision.code, decision.message);
      }
    }
    const headers = upstreamHeaders(req, s);
    for (const name of Object.keys(headers)) if (WS_OWN.test(name)) delete headers[name];
    const protocols = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    delete headers["sec-websocket-protocol"];
    const path = upstreamPath(s, target, headers);
    const url = `${s.target.origin.replace(/^http/, "ws")}${path}`;
    const upstream = new WebSocket(url, protocols, {
      headers: headers as Record<string, string>,
      ...s.upstreamTls,
      perMessageDeflate: false,
      maxPayload: MAX_WS_MESSAGE,
      handshakeTimeout: 15_000,
    });
    const fail = (why: string) => {
      record(502, { error: why });
      rawError(socket, 502, "upstream.unavailable", `the upstream refused the WebSocket (${why})`);
    };
    upstream.once("unexpected-response", (_r, res) => {
      upstream.terminate();
      fail(`status ${res.statusCode}`);
    });
    upstream.once("error", (err: NodeJS.ErrnoException) => {
      if (upstream.readyState !== WebSocket.OPEN) fail(err.code ?? "error");
    });
    upstream.once("open", () => {
      if (socket.destroyed) return upstream.terminate();
      record(101, { verdict: guard ? "allowed" : null });
      if (upstream.protocol) chosen.set(req, upstream.protocol);
      wss.handleUpgrade(req, socket, head, (client) => relay(s, client, upstream));
    });
    socket.once("close", () => {
      if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
    });
    deps.logger.debug({ sessionId: ctx.sessionId }, "websocket upgrade");
  }

  return {
    upgrade(s: HttpSession, req: IncomingMessage, socket: Duplex, head: Buffer, target: NormalizedTarget) {
      upgrade(s, req, socket, head, target).catch((err: unknown) => {
        // The upstream URL may carry the injected credential (query injection): log the error's kind only.
        const e = err as NodeJS.ErrnoException;
        s.ctx.logger.error({ error: e.code ?? e.name }, "websocket upgrade failed");
        socket.destroy();
      });
    },
  };
}
