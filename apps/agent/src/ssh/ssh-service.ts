import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { Spool } from "@sluice/recording";
import type { SecretResolver } from "@sluice/secrets";
import {
  connectUpstream,
  createHostKeyCheck,
  createKnownHostsFile,
  createSshProxyServer,
  loadOrCreateHostKey,
  type ProxySession,
} from "@sluice/ssh-proxy";
import { type AgentConfig, splitHostPort } from "../config";
import type { StateStore } from "../link/state-store";
import type { TunnelHandoff } from "../listeners/tunnel-listener";
import type { EventSink } from "../recording/event-sink";
import type { AuthorizedSession, Authorizer } from "../sessions/authorizer";
import type { SessionRegistry } from "../sessions/session-registry";
import { commandRules, matchRule, sshOptions } from "./ssh-options";
import { createSshRecorder, type SshRecorderContext } from "./ssh-recorder";

export interface SshServiceDeps {
  config: Pick<AgentConfig, "SLUICE_SPOOL_FLOOR_MB" | "SLUICE_AGENT_STATE_DIR">;
  authorizer: Pick<Authorizer, "authorize">;
  secrets: SecretResolver;
  sink: EventSink;
  registry: SessionRegistry;
  spool: Pick<Spool, "hasRoom">;
  store: Pick<StateStore, "state">;
  logger: Logger;
  failureDelayMs?: number;
}

/**
 * The agent's SSH service: the native listener (`ssh -p 2222 <connection>@agent`, a
 * Sluice grant or API key as password, a registered public key or a Sluice SSH
 * certificate) and SSH sessions arriving through the tunnel.
 */
export function createSshService(deps: SshServiceDeps) {
  const dir = join(deps.config.SLUICE_AGENT_STATE_DIR, "ssh");
  const hostKey = loadOrCreateHostKey(join(dir, "host_ed25519_key"));
  const knownHosts = createKnownHostsFile(join(dir, "known-hosts.json"));
  const floorBytes = deps.config.SLUICE_SPOOL_FLOOR_MB * 1024 * 1024;

  async function sessionFor(
    s: AuthorizedSession,
    via: SshRecorderContext["via"],
    clientAddress: string,
  ): Promise<ProxySession> {
    const conn = s.connection;
    if (conn.type !== "ssh")
      throw new AppError("connection.invalid", `${conn.name} is a ${conn.type} connection, not ssh`);
    if (!(await deps.spool.hasRoom(floorBytes))) {
      throw new AppError(
        "service.unavailable",
        "this agent's recording disk is full; new sessions are refused until it drains",
      );
    }
    const options = sshOptions(conn);
    const rules = commandRules(conn, deps.store.state.policies);
    const log = deps.logger.child({ sessionId: s.claims.sid, connection: conn.name });
    const recorder = createSshRecorder(deps.sink, {
      sessionId: s.claims.sid,
      connection: conn.name,
      identity: { id: s.claims.sub, name: s.claims.name, kind: s.claims.kind },
      via,
      clientAddress,
      target: `${conn.host}:${conn.port}`,
      user: conn.username,
      rules,
    });
    let release: (() => Promise<void>) | undefined;
    let unregister: (() => void) | undefined;
    let endReason = "client closed";
    return {
      hooks: {
        allowPortForwarding: options.allowPortForwarding,
        checkExec(command) {
          const rule = matchRule(rules, command);
          return rule ? `sluice: command blocked by policy rule ${rule.name}` : undefined;
        },
        channel: () => recorder.channel(),
        forward: (dest, allowed) => recorder.forward(dest, allowed),
      },
      async upstream() {
        let username = conn.username;
        let secret = "";
        if (conn.credentialRef) {
          const c = await deps.secrets.resolve(conn.credentialRef, {
            connection: conn.name,
            sessionId: s.claims.sid,
          });
          release = c.release;
          secret = c.secret;
          if (c.username) username = c.username;
        }
        return connectUpstream({
          host: conn.host,
          port: conn.port,
          username,
          secret,
          hostKey: createHostKeyCheck({
            ...(options.hostKey ? { pinned: options.hostKey } : {}),
            ...(options.trustOnFirstUse
              ? { tofu: { store: knownHosts, id: `${conn.id} ${conn.host}:${conn.port}` } }
              : {}),
          }),
        });
      },
      onStart(bridge) {
        recorder.start();
        unregister = deps.registry.add({
          sessionId: s.claims.sid,
          connection: conn.name,
          identity: s.claims.name,
          startedAt: Date.now(),
          terminate: (reason) => {
            endReason = reason;
            bridge.terminate(reason);
          },
        });
      },
      onEnd(stats, error) {
        unregister?.();
        if (error) log.info({ error }, "ssh upstream failed");
        recorder.end(stats, error ? "upstream failed" : endReason, error);
        void release?.().catch((err: unknown) =>
          log.warn({ err: (err as Error).message }, "credential release failed"),
        );
      },
    };
  }

  const proxy = createSshProxyServer({
    hostKey: hostKey.privateKey,
    failureDelayMs: deps.failureDelayMs ?? 750,
    async authenticate(req) {
      try {
        const c = req.credential;
        const s = await deps.authorizer.authorize({
          connectionName: req.username,
          credential: c.kind === "secret" ? c.secret : "",
          clientAddress: req.clientAddress,
          protocol: "ssh",
          ...(c.kind === "secret"
            ? {}
            : {
                ssh: {
                  sshPublicKey: c.kind === "publickey" ? c.publicKey : "",
                  sshCertificate: c.kind === "certificate" ? c.certificate : "",
                },
              }),
        });
        return await sessionFor(s, c.kind === "secret" ? s.via : c.kind, req.clientAddress);
      } catch (err) {
        const e = toAppError(err);
        deps.logger.info(
          { code: e.code, method: req.credential.kind, connection: req.username.slice(0, 100) },
          "ssh login refused",
        );
        throw e;
      }
    },
  });
  proxy.server.on("error", (err: Error) => deps.logger.error({ err }, "ssh listener error"));

  return {
    hostKey: { publicKey: hostKey.publicKey, fingerprint: hostKey.fingerprint },
    listen(hostPort: string): Promise<number> {
      const { host, port } = splitHostPort(hostPort);
      return new Promise((resolve, reject) => {
        proxy.server.once("error", reject);
        proxy.server.listen(port, host, () => resolve((proxy.server.address() as AddressInfo).port));
      });
    },
    close(): void {
      proxy.server.close();
    },
    /** An SSH connection through the tunnel: the grant already proved who it is. */
    serveTunnel(h: TunnelHandoff): void {
      sessionFor(h.session, "tunnel", h.clientAddress).then(
        (session) => proxy.handle(h.socket, session, h.initial),
        (err: unknown) => {
          deps.logger.info({ code: toAppError(err).code }, "ssh tunnel session refused");
          h.socket.destroy();
        },
      );
    },
  };
}

export type SshService = ReturnType<typeof createSshService>;
