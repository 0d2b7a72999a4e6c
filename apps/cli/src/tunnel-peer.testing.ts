import type { AddressInfo } from "node:net";
import { connect as netConnect, type Socket } from "node:net";
import tls from "node:tls";
import { createCertificateAuthority, issueCertificate, type PemPair } from "@sluice/pki";
import { parsePreamble, type TunnelRequest } from "@sluice/tunnel";

export const TEST_GRANT = "eyJhbGciOiJFZERTQSJ9.eyJzaWQiOiJzLTEifQ.c2lnbmF0dXJl";
export const TEST_CONNECTION = "pg-local";
export const REAL_PG = { host: "127.0.0.1", port: 5432 };

export interface TunnelPeerOptions {
  /** The CA that issues the peer's certificate. */
  ca: PemPair;
  /** Names in the peer's certificate; default 127.0.0.1 and localhost. */
  hosts?: string[];
  /** Raw answer to the preamble; default: `OK s-1` for the expected connection and grant, else `ERR`. */
  answer?: (req: TunnelRequest) => string;
  /** What the tunnel carries after OK: the real local PostgreSQL, or an echo. */
  target?: "postgres" | "echo";
}

export interface TunnelPeer {
  host: string;
  port: number;
  requests: TunnelRequest[];
  close(): Promise<void>;
}

export async function createTestCa(name = "sluice test CA"): Promise<PemPair> {
  return createCertificateAuthority(name, 1);
}

export function defaultAnswer(req: TunnelRequest): string {
  if (req.connection !== TEST_CONNECTION)
    return `ERR connection.not_found unknown connection ${req.connection}\n`;
  if (req.grant !== TEST_GRANT) return "ERR auth.invalid grant is not valid\n";
  return "OK s-1\n";
}

/**
 * A real tunnel endpoint like the agent's: TLS with a certificate from `ca`, checks the
 * preamble, answers, then relays to PostgreSQL at 127.0.0.1:5432. Like the agent, it
 * signs in upstream as its own identity: the StartupMessage's user becomes `postgres`.
 */
export async function startTunnelPeer(options: TunnelPeerOptions): Promise<TunnelPeer> {
  const leaf = await issueCertificate(options.ca, {
    commonName: "agent",
    hosts: options.hosts ?? ["127.0.0.1", "localhost"],
  });
  const requests: TunnelRequest[] = [];
  const sockets = new Set<Socket>();
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem });
  server.on("secureConnection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parsePreamble(buf);
      if (!parsed) return;
      socket.off("data", onData);
      socket.pause();
      if ("error" in parsed) {
        socket.end(`ERR request.invalid ${parsed.error}\n`);
        return;
      }
      requests.push(parsed.request);
      const answer = (options.answer ?? defaultAnswer)(parsed.request);
      if (!answer.startsWith("OK")) {
        socket.end(answer);
        return;
      }
      socket.write(answer);
      if (options.target === "echo") {
        if (parsed.rest.length > 0) socket.write(parsed.rest);
        socket.pipe(socket);
        return;
      }
      relayToPostgres(socket, parsed.rest, sockets);
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function relayToPostgres(client: tls.TLSSocket, initial: Buffer, sockets: Set<Socket>): void {
  const upstream = netConnect(REAL_PG);
  sockets.add(upstream);
  upstream.on("error", () => client.destroy());
  upstream.on("close", () => client.destroy());
  client.on("close", () => upstream.destroy());
  let buf = initial;
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
    client.off("data", onData);
    const len = buf.readInt32BE(0);
    upstream.write(rewriteStartup(buf.subarray(0, len)));
    if (buf.length > len) upstream.write(buf.subarray(len));
    client.pipe(upstream);
    upstream.pipe(client);
  };
  client.on("data", onData);
  client.resume();
  onData(Buffer.alloc(0));
}

/** Replaces the `user` of a v3 StartupMessage; anything else passes unchanged. */
function rewriteStartup(msg: Buffer): Buffer {
  if (msg.length < 8 || msg.readInt32BE(4) !== 196608) return msg;
  const parts = msg
    .subarray(8, msg.length - 1)
    .toString("utf8")
    .split("\0");
  const params: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i] ?? "";
    if (key === "") break;
    params.push(key, key === "user" ? "postgres" : (parts[i + 1] ?? ""));
  }
  const body = Buffer.from(`${params.join("\0")}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

/** The body of `POST /sessions` pointing at `peer`, expiring `ttlMs` from now. */
export function startedSession(
  peer: { host: string; port: number },
  overrides: { type?: string; database?: string | null; ttlMs?: number; sessionId?: string } = {},
) {
  const id = overrides.sessionId ?? "s-1";
  const type = overrides.type ?? "postgres";
  return {
    session: {
      id,
      user: { id: "u1", name: "ada", kind: "human" },
      connection: { id: "c1", name: TEST_CONNECTION, type },
      agent: { id: "a1", name: "agent-local" },
      protocol: type === "postgres" ? "postgres" : "tcp",
      status: "pending",
    },
    grant: TEST_GRANT,
    expiresAt: new Date(Date.now() + (overrides.ttlMs ?? 300_000)).toISOString(),
    agent: {
      id: "a1",
      name: "agent-local",
      endpoints: [
        { protocol: "postgres", host: peer.host, port: 1 },
        { protocol: "tunnel", host: peer.host, port: peer.port },
      ],
    },
    connection: {
      name: TEST_CONNECTION,
      type,
      database: overrides.database === undefined ? "postgres" : overrides.database,
    },
  };
}
