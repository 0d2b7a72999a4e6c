/**
 * The client side of the `sluice-tunnel` target, in its own process: what `sluice connect`
 * runs once it holds a session grant and the agents' CA. A local listener on 127.0.0.1;
 * for each accepted socket it opens one TLS tunnel to the agent with the CLI's own
 * `openTunnel()` (apps/cli/src/tunnel/open-tunnel.ts: trusts only the given CA, sends
 * the `SLUICE/1 <connection> <grant>` preamble, waits for `OK <sid>`), takes the grant
 * from the CLI's `GrantSource`, and pipes both ways. The per-socket code mirrors
 * `serveClient()` in apps/cli/src/commands/connect.ts, which is not exported.
 * Clients connect with sslmode=disable and no password: the agent treats the session as
 * preauthorized by the grant.
 *
 * Like `sluice connect`, every client socket presents the same session grant. With
 * --grant-per-connection each socket gets a freshly signed grant (its own session id)
 * instead, standing in for one `POST /sessions` per connection; the signing key then
 * comes from BENCH_GRANT_KEY and the signing CPU is counted in this process.
 *
 *   node --import tsx bench/lib/sluice-connect-client.ts --port N --agent-port M \
 *     --ca-file FILE --connection NAME --agent-name NAME --expires-at ISO --session-id ID
 * The grant comes from the environment (BENCH_GRANT) so it never shows in `ps`.
 * Prints {"ready":true,...} or {"ready":false,"reason":"..."} as one JSON line.
 */
import { readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import type tls from "node:tls";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { repoRoot } from "./proc";

type OpenTunnelMod = typeof import("../../packages/client/src/tunnel/open-tunnel");
type GrantSourceMod = typeof import("../../apps/cli/src/tunnel/grant-source");
type StartedSession = import("../../packages/client/src/tunnel/session").StartedSession;

export const openTunnelModule =
  process.env.SLUICE_CLI_TUNNEL_MODULE ?? join(repoRoot, "packages/client/src/tunnel/open-tunnel.ts");
const grantSourceModule = join(repoRoot, "apps/cli/src/tunnel/grant-source.ts");

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "agent-host": { type: "string", default: "127.0.0.1" },
    "agent-port": { type: "string" },
    "ca-file": { type: "string" },
    connection: { type: "string" },
    "agent-name": { type: "string", default: "bench-agent" },
    "session-id": { type: "string", default: "bench" },
    "expires-at": { type: "string" },
    "grant-per-connection": { type: "boolean", default: true },
    kid: { type: "string" },
    "agent-id": { type: "string" },
    "connection-id": { type: "string" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

let openTunnel: OpenTunnelMod["openTunnel"];
let TunnelRefusedError: OpenTunnelMod["TunnelRefusedError"];
let grants: InstanceType<GrantSourceMod["GrantSource"]>;
let nextSession: () => Promise<StartedSession>;
try {
  const mod = (await import(pathToFileURL(openTunnelModule).href)) as Partial<OpenTunnelMod>;
  if (typeof mod.openTunnel !== "function" || typeof mod.TunnelRefusedError !== "function")
    throw new Error(`${openTunnelModule.replace(`${repoRoot}/`, "")} exports no openTunnel()`);
  openTunnel = mod.openTunnel;
  TunnelRefusedError = mod.TunnelRefusedError;
  const { GrantSource } = (await import(pathToFileURL(grantSourceModule).href)) as GrantSourceMod;
  const grant = process.env.BENCH_GRANT ?? "";
  if (!grant) throw new Error("BENCH_GRANT is not set");
  const agentHost = values["agent-host"] ?? "127.0.0.1";
  const agentPort = Number(values["agent-port"]);
  // What POST /sessions returned for this grant; without a control plane there is no
  // refresh, so the bench signs the grant for longer than any run.
  const started: StartedSession = {
    session: { id: values["session-id"] ?? "bench", user: { name: "bench" } },
    grant,
    expiresAt: values["expires-at"] ?? new Date(Date.now() + 86_400_000).toISOString(),
    agent: {
      id: "bench-agent",
      name: values["agent-name"] ?? "bench-agent",
      endpoints: [{ protocol: "tunnel", host: agentHost, port: agentPort }],
    },
    connection: { name: String(values.connection), type: "postgres", database: null },
  };
  grants = new GrantSource(async () => started);
  grants.use(started);
  nextSession = () => grants.get();
  if (values["grant-per-connection"]) {
    const { createGrantMinter } = await import("./sluice-tunnel-fixture");
    const mint = await createGrantMinter({
      signingKeyPem: process.env.BENCH_GRANT_KEY ?? "",
      kid: String(values.kid),
      agentId: String(values["agent-id"]),
      connection: { id: String(values["connection-id"]), name: String(values.connection) },
    });
    // Like POST /sessions: the CLI starts one session (one grant) per client socket.
    grants = new GrantSource(async () => {
      const m = await mint(3600);
      return {
        ...started,
        session: { ...started.session, id: m.sessionId },
        grant: m.grant,
        expiresAt: m.expiresAt.toISOString(),
      };
    });
    grants.use(started);
    nextSession = () => grants.get();
  }
} catch (e) {
  say({ ready: false, reason: (e instanceof Error ? e.message : String(e)).split("\n")[0] });
  process.exit(3);
}
const caPem = readFileSync(String(values["ca-file"]), "utf8");

let opened = 0;
let failed = 0;
let negotiated: string | undefined;
const open = new Set<Socket>();

type BridgeMod = typeof import("../../apps/cli/src/tunnel/bridge-client");
const { bridgeClient } = (await import(
  pathToFileURL(join(repoRoot, "apps/cli/src/tunnel/bridge-client.ts")).href
)) as BridgeMod;

/** The CLI's own per-socket code (`sluice connect`), with counters for the report. */
function serveClient(socket: Socket): Promise<void> {
  return bridgeClient(socket, {
    grants: { get: () => nextSession(), invalidate: () => grants.invalidate() },
    caPem,
    open,
    log: (line) => process.stderr.write(line),
    describeError: (err) => `${err instanceof Error ? err.message : String(err)}\n`,
    onOpen: (tunnel: tls.TLSSocket) => {
      opened++;
      negotiated ??= `${tunnel.getProtocol()} ${tunnel.getCipher().name}`;
    },
    onFail: () => {
      failed++;
    },
  });
}

const stats = () => ({ tunnelsOpened: opened, tunnelsFailed: failed, tls: negotiated ?? null });

const server = createServer({ allowHalfOpen: true }, (socket) => {
  open.add(socket);
  socket.on("close", () => open.delete(socket));
  void serveClient(socket);
});
server.on("error", (e) => {
  say({ ready: false, reason: e.message });
  process.exit(3);
});
const port = Number(values.port);
server.listen(port, "127.0.0.1", () => say({ ready: true, port }));

process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  say({ stats: { ...stats(), heapUsed: process.memoryUsage().heapUsed } });
});

const quit = () => {
  server.close();
  for (const s of open) s.destroy();
  say({ stats: stats() });
  process.exit(0);
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
