import { type ChannelCredentials, type ClientDuplexStream, Metadata, status } from "@grpc/grpc-js";
import type { Logger } from "@sluice/logger";
import {
  type AgentMessage,
  AgentServiceClient,
  type ControlMessage,
  type Hello,
  type ReviewState,
} from "@sluice/proto";
import type { StateStore } from "./state-store";

export interface AgentLinkOptions {
  /**
   * Control-plane addresses (replicas), tried in this order: the agent links to the first
   * that answers and, when that link is lost, dials the next one.
   */
  targets: readonly string[];
  credentials: ChannelCredentials;
  channelOptions?: Record<string, string | number>;
  token: string;
  hello: () => Omit<Hello, "resumeVersion">;
  store: StateStore;
  logger: Logger;
  heartbeatMs: number;
  activeSessions: () => number;
  spoolBytes?: () => number;
  onEndSession?: (sessionId: string, reason: string) => void;
  /** A review of a statement held in one of this agent's sessions changed state. */
  onReview?: (review: ReviewState) => void;
  backoff?: { initialMs: number; maxMs: number };
}

export type LinkState = "connecting" | "connected" | "disconnected" | "revoked" | "stopped";

/**
 * The agent's control channel: dials out to the control plane, announces itself,
 * applies the snapshot and change stream to the state store, sends heartbeats, and
 * reconnects with jittered exponential backoff. A revoked credential stops retrying.
 */
export function createAgentLink(opts: AgentLinkOptions) {
  if (opts.targets.length === 0) throw new Error("the agent link needs a control-plane address");
  const clients = opts.targets.map(
    (target) =>
      new AgentServiceClient(target, opts.credentials, {
        "grpc.keepalive_time_ms": 20_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
        ...opts.channelOptions,
      }),
  );
  /** Which replica the link (and every other call: authorizations, uploads, reviews) uses now. */
  let current = 0;
  const client = new Proxy(clients[0] as AgentServiceClient, {
    get(_target, prop) {
      const c = clients[current] as AgentServiceClient;
      const value = Reflect.get(c, prop, c);
      return typeof value === "function" ? value.bind(c) : value;
    },
  });
  const backoff = opts.backoff ?? { initialMs: 250, maxMs: 15_000 };
  let state: LinkState = "disconnected";
  let attempt = 0;
  let call: ClientDuplexStream<AgentMessage, ControlMessage> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  const listeners = new Set<(s: LinkState) => void>();

  function setState(next: LinkState): void {
    if (state === next) return;
    state = next;
    for (const l of listeners) l(next);
  }

  function metadata(): Metadata {
    const md = new Metadata();
    md.set("authorization", `Bearer ${opts.token}`);
    return md;
  }

  function onMessage(msg: ControlMessage): void {
    const body = msg.body;
    switch (body?.$case) {
      case "snapshot":
        opts.store.applySnapshot(body.value);
        attempt = 0;
        setState("connected");
        opts.logger.info(
          {
            version: body.value.version,
            connections: body.value.connections.length,
            controlPlane: opts.targets[current],
          },
          "desired state snapshot applied",
        );
        break;
      case "change":
        opts.store.applyChange(body.value);
        attempt = 0;
        setState("connected");
        opts.logger.info(
          { version: body.value.version, change: body.value.body?.$case },
          "desired state change applied",
        );
        break;
      case "heartbeatAck":
        opts.store.markSynced();
        break;
      case "endSession":
        opts.onEndSession?.(body.value.sessionId, body.value.reason);
        break;
      case "review":
        opts.onReview?.(body.value);
        break;
    }
  }

  function scheduleRetry(): void {
    if (state === "stopped" || state === "revoked") return;
    // A lost link goes to the next replica; with a single address this is the same one.
    current = (current + 1) % clients.length;
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    attempt += 1;
    opts.logger.info(
      { delayMs: delay, attempt, controlPlane: opts.targets[current] },
      "reconnecting to the control plane",
    );
    retry = setTimeout(connect, delay);
  }

  function teardown(): void {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    call = undefined;
  }

  function connect(): void {
    if (state === "stopped" || state === "revoked") return;
    setState("connecting");
    const stream = client.link(metadata());
    call = stream;
    stream.on("data", onMessage);
    stream.on("error", (err: Error & { code?: number; details?: string }) => {
      if (call !== stream) return;
      teardown();
      if (err.code === status.UNAUTHENTICATED) {
        opts.logger.error(
          { details: err.details },
          "control plane rejected the agent credential; not retrying",
        );
        setState("revoked");
        return;
      }
      if (err.code !== status.CANCELLED)
        opts.logger.warn({ code: err.code, details: err.details }, "control plane link lost");
      setState("disconnected");
      scheduleRetry();
    });
    stream.on("end", () => {
      if (call !== stream) return;
      teardown();
      setState("disconnected");
      scheduleRetry();
    });
    stream.write({
      body: { $case: "hello", value: { ...opts.hello(), resumeVersion: opts.store.state.version } },
    });
    heartbeat = setInterval(() => {
      stream.write({
        body: {
          $case: "heartbeat",
          value: {
            activeSessions: opts.activeSessions(),
            stateVersion: opts.store.state.version,
            spoolBytes: 0,
          },
        },
      });
    }, opts.heartbeatMs);
  }

  return {
    client,
    start(): void {
      connect();
    },
    stop(): void {
      setState("stopped");
      if (retry) clearTimeout(retry);
      const c = call;
      teardown();
      c?.cancel();
      for (const each of clients) each.close();
    },
    state: () => state,
    /** The control-plane address in use (or being dialled). */
    controlPlane: () => opts.targets[current] as string,
    onState(listener: (s: LinkState) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type AgentLink = ReturnType<typeof createAgentLink>;
