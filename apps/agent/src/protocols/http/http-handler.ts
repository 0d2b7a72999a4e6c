import type tls from "node:tls";
import { connectionTypeSpecs } from "@sluice/connection-types";
import type { Logger } from "@sluice/logger";
import { MaskTally } from "@sluice/policy";
import type { SecretResolver } from "@sluice/secrets";
import type { AgentConfig } from "../../config";
import type { Authorizer } from "../../core/authorizer";
import type { SessionBroker, SessionContext } from "../../core/broker";
import { createHttpFront } from "../../core/http-front";
import type { ProtocolHandler } from "../../core/protocol";
import { type HttpSession, serveExchange } from "./http-exchange";
import { rawError, replyError } from "./http-reply";
import { createUpstreamPools, httpTarget } from "./http-upstream";
import { createWebSocketProxy } from "./http-websocket";
import { secretForms } from "./secret-scrubber";

export interface HttpHandlerDeps {
  config: Pick<
    AgentConfig,
    | "SLUICE_HTTP_LISTEN"
    | "SLUICE_HTTP_PLAINTEXT"
    | "SLUICE_HTTP_ROUTE_DOMAIN"
    | "SLUICE_HANDSHAKE_TIMEOUT_SECONDS"
  >;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  tls: () => tls.SecureContext | undefined;
  secrets: Pick<SecretResolver, "resolve">;
  logger: Logger;
}

/**
 * The agent's HTTP protocol: a native listener (`curl -H "Authorization: Bearer $TOKEN"
 * https://agent:8081/<connection>/<path>`, or `<connection>.<route domain>` by Host) and
 * sessions arriving through the tunnel (`sluice connect`, identity proven by the grant).
 */
export function createHttpHandler(deps: HttpHandlerDeps): ProtocolHandler {
  const pools = createUpstreamPools({ secrets: deps.secrets });
  const ws = createWebSocketProxy({ logger: deps.logger });

  async function start(ctx: SessionContext): Promise<HttpSession> {
    const credential = await ctx.credential();
    const target = httpTarget(ctx.connection);
    const pool = await pools.forConnection(ctx.connection);
    const upstreamTls = await pools.connectOptions(ctx.connection);
    ctx.started({ target: `${target.origin}${target.basePath}` });
    return {
      ctx,
      target,
      pool,
      upstreamTls,
      credential,
      echoForms: secretForms(credential.username, credential.secret),
      masking: ctx.policy?.masking,
      totals: new MaskTally(),
      bytesIn: 0,
      bytesOut: 0,
    };
  }

  const front = createHttpFront<HttpSession>({
    type: "http",
    listenOn: deps.config.SLUICE_HTTP_LISTEN,
    plaintext: deps.config.SLUICE_HTTP_PLAINTEXT,
    routeDomain: deps.config.SLUICE_HTTP_ROUTE_DOMAIN,
    handshakeTimeoutSeconds: deps.config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS,
    authorizer: deps.authorizer,
    broker: deps.broker,
    tls: deps.tls,
    logger: deps.logger,
    errors: { reply: replyError, raw: rawError },
    start,
    exchange: serveExchange,
    upgrade: (s, req, socket, head, target) => ws.upgrade(s, req, socket, head, target),
    close: () => void pools.close(),
  });

  return {
    type: "http",
    enforces: connectionTypeSpecs.http.enforces,
    listener: front.listener,
    serve: front.serveTunnel,
    refuse: front.refuse,
  };
}
