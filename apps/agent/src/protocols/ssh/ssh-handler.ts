import { join } from "node:path";
import type { Duplex } from "node:stream";
import { connectionTypeSpecs } from "@sluice/connection-types";
import { type AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import {
  connectUpstream,
  createHostKeyCheck,
  createKnownHostsFile,
  createSshProxyServer,
  loadOrCreateHostKey,
  type ProxySession,
} from "@sluice/ssh-proxy";
import type { AgentConfig } from "../../config";
import type { AuthorizedSession, Authorizer } from "../../core/authorizer";
import type { SessionBroker, Via } from "../../core/broker";
import { listen } from "../../core/listen";
import type { ClientStream, ProtocolHandler } from "../../core/protocol";
import { sshOptions } from "./ssh-options";
import { createSshRecorder } from "./ssh-recorder";

export interface SshHandlerDeps {
  config: Pick<
    AgentConfig,
    "SLUICE_SSH_LISTEN" | "SLUICE_AGENT_STATE_DIR" | "SLUICE_HANDSHAKE_TIMEOUT_SECONDS"
  >;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  logger: Logger;
  failureDelayMs?: number;
}

/**
 * The agent's SSH service: the native listener (`ssh -p 2222 <connection>@agent`, a
 * Sluice grant or API key as password, a registered public key or a Sluice SSH
 * certificate) and SSH sessions arriving through the tunnel.
 */
export function createSshHandler(deps: SshHandlerDeps): ProtocolHandler & {
  hostKey: { publicKey: string; fingerprint: string };
} {
  const dir = join(deps.config.SLUICE_AGENT_STATE_DIR, "ssh");
  const hostKey = loadOrCreateHostKey(join(dir, "host_ed25519_key"));
  const knownHosts = createKnownHostsFile(join(dir, "known-hosts.json"));

  async function sessionFor(s: AuthorizedSession, via: Via, clientAddress: string): Promise<ProxySession> {
    const ctx = await deps.broker.open(s, { type: "ssh", via, clientAddress });
    const conn = ctx.connection;
    const options = sshOptions(conn);
    // Command rules come from the same compiled, validated policy as SQL rules: a policy the
    // agent cannot read has already refused the session above.
    const rules = ctx.policy?.commands ?? { active: false, match: () => undefined, evaluate: allowAll };
    const recorder = createSshRecorder(ctx, {
      target: `${conn.host}:${conn.port}`,
      user: conn.username,
      rules,
    });
    let endReason = "client closed";
    let started = false;
    return {
      hooks: {
        allowPortForwarding: options.allowPortForwarding,
        checkExec(command) {
          const verdict = rules.evaluate(command);
          if (verdict.action === "allow") return undefined;
          ctx.recordPolicy({
            decision: "denied",
            rule: verdict.rule,
            ...(verdict.policyId ? { policyId: verdict.policyId, policy: verdict.policyName } : {}),
            statement: command,
          });
          return `sluice: ${verdict.message}`;
        },
        channel: () => recorder.channel(),
        forward: (dest, allowed) => recorder.forward(dest, allowed),
      },
      async upstream() {
        const { username, secret } = await ctx.credential();
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
        started = true;
        recorder.start();
        ctx.onTerminate((reason) => {
          endReason = reason;
          bridge.terminate(reason);
        });
      },
      onEnd(stats, error) {
        if (error) ctx.logger.info({ error }, "ssh upstream failed");
        if (started) recorder.end(stats, error ? "upstream failed" : endReason, error);
        else void ctx.end();
      },
    };
  }

  const handshakeSeconds = deps.config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS;
  const proxy = createSshProxyServer({
    hostKey: hostKey.privateKey,
    failureDelayMs: deps.failureDelayMs ?? 750,
    ...(handshakeSeconds ? { authTimeoutMs: handshakeSeconds * 1000 } : {}),
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
    type: "ssh",
    enforces: connectionTypeSpecs.ssh.enforces,
    listener: {
      endpoint: "ssh",
      hostPort: deps.config.SLUICE_SSH_LISTEN,
      // SSH is one service among several: a busy port disables it without stopping the agent.
      required: false,
      listen: () => listen(proxy.server, deps.config.SLUICE_SSH_LISTEN),
      close: () => proxy.server.close(),
    },
    /** An SSH connection through the tunnel: the grant already proved who it is. */
    serve(session: AuthorizedSession, client: ClientStream): void {
      sessionFor(session, "tunnel", client.clientAddress).then(
        (s) => proxy.handle(client.socket, s, client.initial),
        (err: unknown) => {
          deps.logger.info({ code: toAppError(err).code }, "ssh tunnel session refused");
          client.socket.destroy();
        },
      );
    },
    /** The SSH client has not started its protocol yet: closing is all it understands. */
    refuse(client: Duplex, _err: AppError): void {
      client.destroy();
    },
  };
}

const allowAll = () => ({ action: "allow" as const });
