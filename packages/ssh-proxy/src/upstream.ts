import type { Socket } from "node:net";
import ssh2, { type Algorithms, type Client } from "ssh2";
import { coalesceWrites } from "./coalesce";
import { looksLikePrivateKey } from "./host-key";
import type { HostKeyCheck } from "./host-key-check";

export interface UpstreamTarget {
  host: string;
  port: number;
  username: string;
  /** A password, or an OpenSSH/PEM private key. */
  secret: string;
  hostKey: HostKeyCheck;
  algorithms?: Algorithms;
  readyTimeoutMs?: number;
}

/** The upstream connection failed; `message` is safe to show the client. */
export class UpstreamError extends Error {
  override name = "UpstreamError";
}

/** Connects and authenticates to the target, verifying its host key first. */
export function connectUpstream(t: UpstreamTarget): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    const where = `${t.host}:${t.port}`;
    client.once("ready", () => {
      settled = true;
      resolve(client);
    });
    client.on("error", (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      client.end();
      const hostKeyFailure = t.hostKey.failure();
      if (hostKeyFailure) return reject(new UpstreamError(`refusing ${where}: ${hostKeyFailure}`));
      if (err.level === "client-authentication")
        return reject(new UpstreamError(`the target ${where} rejected the agent's credential`));
      if (err.level === "client-timeout")
        return reject(new UpstreamError(`the target ${where} did not answer in time`));
      const code = err.code ? ` (${err.code})` : "";
      reject(new UpstreamError(`cannot reach the target ${where}${code}`));
    });
    const key = looksLikePrivateKey(t.secret);
    client.connect({
      host: t.host,
      port: t.port,
      username: t.username,
      ...(key ? { privateKey: t.secret } : { password: t.secret }),
      tryKeyboard: !key,
      hostVerifier: (k: Buffer) => t.hostKey.verify(k),
      readyTimeout: t.readyTimeoutMs ?? 15_000,
      keepaliveInterval: 15_000,
      ...(t.algorithms ? { algorithms: t.algorithms } : {}),
    });
    const sock = (client as unknown as { _sock?: Socket })._sock;
    if (sock && typeof sock.cork === "function") coalesceWrites(sock);
    if (!key) {
      client.on("keyboard-interactive", (_n, _i, _l, prompts, finish) => {
        finish(prompts.map(() => t.secret));
      });
    }
  });
}
