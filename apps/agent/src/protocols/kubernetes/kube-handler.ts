import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { connectionTypeSpecs } from "@sluice/connection-types";
import type { Logger } from "@sluice/logger";
import type { NormalizedTarget } from "@sluice/policy";
import type { SecretResolver } from "@sluice/secrets";
import type { AgentConfig } from "../../config";
import type { Authorizer } from "../../core/authorizer";
import type { SessionBroker, SessionContext } from "../../core/broker";
import { decideHeld } from "../../core/held-decision";
import { createHttpFront } from "../../core/http-front";
import type { ProtocolHandler } from "../../core/protocol";
import { createUpstreamPools, httpTarget } from "../http/http-upstream";
import { impersonationCheck, serveKubeRequest, upstreamHeaders } from "./kube-exchange";
import { CHANNEL_PROTOCOLS, createStreamRelay, PORT_FORWARD_PROTOCOLS, relayPortForward } from "./kube-exec";
import { callOf, type KubeCall, kubeGuardOf } from "./kube-policy";
import { type KubeSession, kubeIdentity } from "./kube-session";
import { rawStatus, replyStatus } from "./kube-status";

/** Why an older kubectl's SPDY stream is refused, and what to use instead. */
const SPDY_REFUSAL =
  "Sluice carries exec, attach and port-forward over WebSocket only (kubectl 1.30 or newer); SPDY streams cannot be recorded";

export interface KubeHandlerDeps {
  config: Pick<
    AgentConfig,
    "SLUICE_KUBE_LISTEN" | "SLUICE_KUBE_PLAINTEXT" | "SLUICE_HANDSHAKE_TIMEOUT_SECONDS"
  >;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  tls: () => tls.SecureContext | undefined;
  secrets: Pick<SecretResolver, "resolve">;
  logger: Logger;
}

/**
 * The agent's Kubernetes protocol: kubectl talks to `https://agent:6443/<connection>` (a
 * kubeconfig written by `sluice kube login`, the Sluice token from the exec credential
 * plugin) or to `sluice connect` locally. The agent holds the cluster credential, has
 * every request impersonate the Sluice identity, applies the connection's Kubernetes
 * rules (deny, review, read-only, exec commands, impersonation), redacts Secret values
 * and records every request, and exec and attach streams for replay.
 */
export function createKubeHandler(deps: KubeHandlerDeps): ProtocolHandler {
  const pools = createUpstreamPools({ secrets: deps.secrets });
  const streams = createStreamRelay();

  async function start(ctx: SessionContext): Promise<KubeSession> {
    const credential = await ctx.credential();
    const target = httpTarget(ctx.connection);
    const pool = await pools.forConnection(ctx.connection);
    const upstreamTls = await pools.connectOptions(ctx.connection);
    const identity = kubeIdentity(ctx.connection, ctx.identity);
    ctx.started({ target: target.origin, ...(identity ? { user: identity.user } : {}) });
    return { ctx, target, pool, upstreamTls, credential, identity, bytesIn: 0, bytesOut: 0 };
  }

  function callFor(req: IncomingMessage, target: NormalizedTarget): KubeCall | { refused: string } {
    return callOf(req.method ?? "GET", target);
  }

  async function exchange(
    s: KubeSession,
    req: IncomingMessage,
    res: ServerResponse,
    target: NormalizedTarget,
    expectContinue: boolean,
  ): Promise<void> {
    const call = callFor(req, target);
    if ("refused" in call) {
      s.ctx.record("kube.request", {
        path: target.path.slice(0, 500),
        status: 400,
        verdict: "refused",
        error: call.refused,
      });
      s.ctx.commit();
      return replyStatus(res, 400, "request.invalid", call.refused);
    }
    await serveKubeRequest(s, req, res, target, call, expectContinue);
  }

  async function upgrade(
    s: KubeSession,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: NormalizedTarget,
  ) {
    const { ctx } = s;
    const call = callFor(req, target);
    const refuse = (status: number, code: string, message: string, extra: Record<string, unknown> = {}) => {
      ctx.record("kube.request", {
        path: target.path.slice(0, 500),
        ...("refused" in call
          ? {}
          : {
              verb: call.attrs.verb,
              resource: call.attrs.resource,
              subresource: call.attrs.subresource,
              namespace: call.attrs.namespace,
              name: call.attrs.name,
            }),
        status,
        ...extra,
      });
      ctx.commit();
      rawStatus(socket, status, code, message);
    };
    if ("refused" in call) return refuse(400, "request.invalid", call.refused, { verdict: "refused" });
    const kind = (req.headers.upgrade ?? "").toLowerCase();
    if (kind !== "websocket") {
      return refuse(400, "request.invalid", SPDY_REFUSAL, { verdict: "refused" });
    }
    const { attrs } = call;
    const sub = attrs.subresource;
    if (attrs.resource !== "pods" || !["exec", "attach", "portforward"].includes(sub)) {
      return refuse(
        400,
        "request.invalid",
        `upgrades are served for pods/exec, pods/attach and pods/portforward, not ${attrs.resource}/${sub || "-"}`,
        { verdict: "refused" },
      );
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const readable = sub === "portforward" ? PORT_FORWARD_PROTOCOLS : CHANNEL_PROTOCOLS;
    const protocols = offered.filter((p) => readable.includes(p));
    if (protocols.length === 0) {
      return refuse(
        400,
        "request.invalid",
        `none of the offered stream protocols can be recorded (${offered.join(", ").slice(0, 200) || "none"}); Sluice reads ${readable.join(", ")}`,
        { verdict: "refused" },
      );
    }
    const guard = kubeGuardOf(ctx.policy);
    const impersonation = impersonationCheck(guard, req, call);
    if (!impersonation.ok) {
      return refuse(impersonation.status, impersonation.code, impersonation.message, {
        verdict: "denied",
        rule: impersonation.rule ?? null,
      });
    }
    const { keepClientImpersonation } = impersonation;
    let approved: { verdict: string; rule: string } | undefined;
    const verdict = guard.evaluate(attrs, call.command ? { command: call.command } : {});
    if (verdict.action !== "allow") {
      const aborted = new AbortController();
      socket.once("close", () => aborted.abort());
      const decision = await decideHeld(ctx, "kubernetes", verdict, () => call.statement, aborted.signal);
      if (!decision.allow) {
        return refuse(decision.status, decision.code, decision.message, {
          verdict: decision.code === "policy.denied" ? "denied" : "rejected",
          rule: decision.rule ?? null,
        });
      }
      approved = { verdict: "approved", rule: verdict.rule };
    }
    const headers = upstreamHeaders(s, req, { keepClientImpersonation, plainJson: false });
    for (const name of Object.keys(headers)) if (/^sec-websocket-/.test(name)) delete headers[name];
    const started = performance.now();
    const stream = {
      subresource: sub,
      namespace: attrs.namespace,
      pod: attrs.name,
      ...(call.command?.container !== undefined ? { container: call.command.container } : {}),
      command: call.command?.argv ?? [],
      tty: call.command?.tty === true,
    };
    const onOpen = () => {
      ctx.record("kube.request", {
        verb: attrs.verb,
        resource: "pods",
        subresource: sub,
        namespace: attrs.namespace,
        name: attrs.name,
        path: target.path.slice(0, 500),
        status: 101,
        durationMs: Math.round(performance.now() - started),
        ...(s.identity ? { user: s.identity.user } : {}),
        ...(approved ?? {}),
      });
      ctx.record(sub === "portforward" ? "kube.portforward" : "kube.exec", stream);
      ctx.commit();
    };
    const fail = (status: number, why: string) =>
      refuse(
        status,
        status === 502 ? "upstream.unavailable" : "upstream.refused",
        `the Kubernetes API server refused the stream (${why})`,
        { error: why },
      );
    const path = `${target.path}${target.query ? `?${target.query}` : ""}`;
    if (sub === "portforward") {
      return relayPortForward({ s, req, socket, head, path, headers, protocols, onOpen, fail });
    }
    streams.open({
      s,
      req,
      socket,
      head,
      url: `${s.target.origin.replace(/^http/, "ws")}${path}`,
      headers,
      protocols,
      stream,
      onOpen,
      fail,
    });
  }

  const front = createHttpFront<KubeSession>({
    type: "kubernetes",
    listenOn: deps.config.SLUICE_KUBE_LISTEN,
    plaintext: deps.config.SLUICE_KUBE_PLAINTEXT,
    handshakeTimeoutSeconds: deps.config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS,
    authorizer: deps.authorizer,
    broker: deps.broker,
    tls: deps.tls,
    logger: deps.logger,
    errors: { reply: replyStatus, raw: rawStatus },
    start,
    exchange,
    upgrade: (s, req, socket, head, target) => {
      upgrade(s, req, socket, head, target).catch((err: unknown) => {
        s.ctx.logger.error({ error: (err as Error).name }, "kubernetes stream failed");
        socket.destroy();
      });
    },
    close: () => void pools.close(),
    upgradeRefusal: (req, message) => (/^spdy\//i.test(req.headers.upgrade ?? "") ? SPDY_REFUSAL : message),
  });

  return {
    type: "kubernetes",
    enforces: connectionTypeSpecs.kubernetes.enforces,
    listener: front.listener,
    serve: front.serveTunnel,
    refuse: front.refuse,
  };
}
