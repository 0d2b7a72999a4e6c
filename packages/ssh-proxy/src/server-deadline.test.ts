import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key";
import { createHostKeyCheck } from "./host-key-check";
import { createSshProxyServer } from "./server";
import { connectUpstream } from "./upstream";

const AUTH_TIMEOUT_MS = 400;
const MAX_AUTH_REQUESTS = 5;
const TOKEN = "good-token";
const dir = mkdtempSync(join(tmpdir(), "ssh-proxy-deadline-"));
const target = loadOrCreateHostKey(join(dir, "target.key"));
const targetServer = new ssh2.Server({ hostKeys: [target.privateKey] }, (conn) => {
  conn.on("authentication", (ctx) => ctx.accept());
  conn.on("session", (accept) =>
    accept().on("exec", (a, _r, info) => {
      const ch = a();
      ch.end(`ran:${info.command}\n`);
      ch.exit(0);
    }),
  );
  conn.on("error", () => undefined);
});
let targetPort = 0;

const proxy = createSshProxyServer({
  hostKey: loadOrCreateHostKey(join(dir, "proxy.key")).privateKey,
  failureDelayMs: 1,
  authTimeoutMs: AUTH_TIMEOUT_MS,
  maxAuthRequests: MAX_AUTH_REQUESTS,
  async authenticate(req) {
    if (req.credential.kind !== "secret" || req.credential.secret !== TOKEN) throw new Error("no");
    return {
      hooks: { allowPortForwarding: false },
      upstream: () =>
        connectUpstream({
          host: "127.0.0.1",
          port: targetPort,
          username: "app",
          secret: "x",
          hostKey: createHostKeyCheck({ pinned: target.fingerprint }),
        }),
      onEnd: () => undefined,
    };
  },
});
let proxyPort = 0;

function listen(server: ssh2.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  targetPort = await listen(targetServer);
  proxyPort = await listen(proxy.server);
});

afterAll(() => {
  proxy.server.close();
  targetServer.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves with how long after `since` the socket closed; rejects if it is still open after `limitMs`. */
function closedWithin(socket: Socket, since: number, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - since);
    });
  });
}

function rawSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

function sshClient(config: Partial<ssh2.ConnectConfig>): ssh2.Client {
  const client = new ssh2.Client();
  client.on("error", () => undefined);
  client.connect({ host: "127.0.0.1", port: proxyPort, username: "conn", ...config });
  return client;
}

describe("unauthenticated connections", () => {
  it("closes a TCP connection that never speaks", async () => {
    const s = await rawSocket();
    s.on("data", () => undefined);
    const elapsed = await closedWithin(s, Date.now(), AUTH_TIMEOUT_MS * 5);
    expect(elapsed).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
  });

  it("closes a connection that sends its banner and nothing more", async () => {
    const s = await rawSocket();
    const banner = new Promise<string>((resolve) =>
      s.once("data", (d: Buffer) => resolve(d.toString("latin1"))),
    );
    s.write("SSH-2.0-OpenSSH_9.6\r\n");
    expect(await banner).toMatch(/^SSH-2\.0-Sluice/);
    await closedWithin(s, Date.now(), AUTH_TIMEOUT_MS * 5);
  });

  it("closes a client that completes the key exchange but never authenticates", async () => {
    let handshake = false;
    const client = sshClient({ authHandler: () => undefined });
    client.on("handshake", () => {
      handshake = true;
    });
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("still open")), AUTH_TIMEOUT_MS * 5),
    );
    await Promise.race([closed, timeout]);
    expect(handshake).toBe(true);
  });

  it("closes a client that keeps sending authentication requests", async () => {
    let attempts = 0;
    const client = sshClient({
      authHandler: (_methods, _partial, next) => {
        attempts += 1;
        next({ type: "none", username: "conn" });
      },
    });
    await new Promise<void>((resolve) => client.once("close", () => resolve()));
    expect(attempts).toBeGreaterThan(MAX_AUTH_REQUESTS);
    expect(attempts).toBeLessThanOrEqual(MAX_AUTH_REQUESTS + 1);
  });

  it("keeps an authenticated connection open past the deadline", async () => {
    const client = sshClient({ password: TOKEN });
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("close", () => reject(new Error("closed before ready")));
    });
    await new Promise((r) => setTimeout(r, AUTH_TIMEOUT_MS * 2));
    const out = await new Promise<string>((resolve, reject) =>
      client.exec("hello", (err, ch) => {
        if (err) return reject(err);
        let text = "";
        ch.on("data", (d: Buffer) => {
          text += d.toString();
        });
        ch.on("close", () => resolve(text));
      }),
    );
    expect(out).toBe("ran:hello\n");
    client.end();
  });
});
