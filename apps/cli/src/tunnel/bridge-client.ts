import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { openTunnel, TunnelRefusedError, tunnelEndpoint } from "@sluice/client";
import type { GrantSource } from "./grant-source";

export interface BridgeDeps {
  grants: Pick<GrantSource, "get" | "invalidate">;
  caPem: string;
  /** Open tunnels, so a shutdown can close them. */
  open: Set<Socket>;
  log: (line: string) => void;
  describeError: (err: unknown) => string;
  onOpen?: (tunnel: TLSSocket) => void;
  onFail?: (err: unknown) => void;
}

/**
 * Serves one local client socket: takes a session grant, opens one TLS tunnel to the
 * agent, and pipes both ways until either side closes.
 */
export async function bridgeClient(socket: Socket, deps: BridgeDeps): Promise<void> {
  socket.pause();
  socket.on("error", () => socket.destroy());
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  let tunnel: TLSSocket;
  let sessionId: string;
  try {
    const started = await deps.grants.get();
    const endpoint = tunnelEndpoint(started);
    ({ socket: tunnel, sessionId } = await openTunnel({
      agentName: started.agent.name,
      host: endpoint.host,
      port: endpoint.port,
      caPem: deps.caPem,
      connection: started.connection.name,
      grant: started.grant,
    }));
  } catch (err) {
    if (err instanceof TunnelRefusedError && err.code.startsWith("auth.")) deps.grants.invalidate();
    deps.onFail?.(err);
    deps.log(`${peer}: ${deps.describeError(err)}`);
    socket.destroy();
    return;
  }
  if (socket.destroyed) {
    tunnel.destroy();
    return;
  }
  deps.open.add(tunnel);
  deps.onOpen?.(tunnel);
  deps.log(`${peer}: tunnel open (session ${sessionId})\n`);
  tunnel.on("error", () => tunnel.destroy());
  tunnel.on("close", () => {
    deps.open.delete(tunnel);
    socket.destroy();
  });
  socket.on("close", () => {
    tunnel.destroy();
    deps.log(`${peer}: closed (session ${sessionId})\n`);
  });
  socket.pipe(tunnel);
  tunnel.pipe(socket);
}
