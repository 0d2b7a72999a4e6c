import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateHostKey } from "./host-key";
import { createHostKeyCheck } from "./host-key-check";
import {
  formatCertificate,
  generateEd25519KeyPair,
  parseAuthorizedKey,
  parseCertificate,
  signCertificate,
} from "./keys";
import { type AuthRequest, createSshProxyServer } from "./server";
import { connectUpstream } from "./upstream";

const dir = mkdtempSync(join(tmpdir(), "ssh-proxy-auth-"));
const TARGET_PW = "target-pw";
const seen: AuthRequest["credential"][] = [];
const accepted = new Set<string>();
const target = loadOrCreateHostKey(join(dir, "target.key"));
const targetServer = new ssh2.Server({ hostKeys: [target.privateKey] }, (conn) => {
  conn.on("authentication", (ctx) =>
    ctx.method === "password" && ctx.password === TARGET_PW ? ctx.accept() : ctx.reject(["password"]),
  );
  conn.on("session", (accept) =>
    accept().on("exec", (a, _r, info) => {
      const ch = a();
      ch.write(`ran:${info.command}\n`);
      ch.exit(0);
      ch.end();
    }),
  );
  conn.on("error", () => undefined);
});
let targetPort = 0;

const proxyKey = loadOrCreateHostKey(join(dir, "proxy.key"));
const proxy = createSshProxyServer({
  hostKey: proxyKey.privateKey,
  failureDelayMs: 10,
  async authenticate(req) {
    seen.push(req.credential);
    const id =
      req.credential.kind === "publickey"
        ? req.credential.publicKey
        : req.credential.kind === "certificate"
          ? req.credential.certificate
          : req.credential.secret;
    if (!accepted.has(id)) throw new Error("unknown");
    return {
      hooks: { allowPortForwarding: false },
      upstream: () =>
        connectUpstream({
          host: "127.0.0.1",
          port: targetPort,
          username: "app",
          secret: TARGET_PW,
          hostKey: createHostKeyCheck({ pinned: target.fingerprint }),
        }),
      onEnd: () => undefined,
    };
  },
});
let proxyPort = 0;
const knownHosts = join(dir, "known_hosts");

function listen(server: ssh2.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

function key(name: string): { file: string; publicKey: string } {
  const pair = generateEd25519KeyPair(name);
  const file = join(dir, name);
  writeFileSync(file, pair.privateKey, { mode: 0o600 });
  writeFileSync(`${file}.pub`, `${pair.publicKey}\n`);
  return { file, publicKey: pair.publicKey };
}

/** The real OpenSSH client, offering only the given identity (async: the proxy runs in this process). */
function ssh(identity: string): Promise<{ stdout: string; stderr: string; status: number | null }> {
  const args = [
    ...["-F", "/dev/null", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes"],
    ...["-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey", "-o", "BatchMode=yes"],
    ...["-i", identity, "-p", String(proxyPort), "prod-web@127.0.0.1", "hostname"],
  ];
  return new Promise((resolve) => {
    execFile(
      "ssh",
      args,
      { timeout: 30_000, env: { ...process.env, SSH_AUTH_SOCK: "" } },
      (err, stdout, stderr) =>
        resolve({ stdout, stderr, status: err ? ((err as { code?: number }).code ?? null) : 0 }),
    );
  });
}

const lineOf = (publicKey: string) => publicKey.split(" ").slice(0, 2).join(" ");

beforeAll(async () => {
  targetPort = await listen(targetServer);
  proxyPort = await listen(proxy.server);
  writeFileSync(knownHosts, `[127.0.0.1]:${proxyPort} ${proxyKey.publicKey}\n`);
});

afterAll(() => {
  proxy.server.close();
  targetServer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("publickey authentication on the proxy", () => {
  it("accepts a key the caller recognises, after OpenSSH proved it holds the private key", async () => {
    const k = key("known");
    accepted.add(lineOf(k.publicKey));
    const r = await ssh(k.file);
    expect(r.stdout, r.stderr).toBe("ran:hostname\n");
    expect(seen.at(-1)).toEqual({ kind: "publickey", publicKey: lineOf(k.publicKey) });
  });

  it("refuses a key the caller does not recognise", async () => {
    const k = key("stranger");
    const r = await ssh(k.file);
    expect(r.status).toBe(255);
    expect(r.stderr).toContain("Permission denied (publickey,password,keyboard-interactive)");
    expect(seen.at(-1)).toEqual({ kind: "publickey", publicKey: lineOf(k.publicKey) });
  });

  it("passes an OpenSSH certificate to the caller, signed by the key inside it", async () => {
    const k = key("certified");
    const ca = generateKeyPairSync("ed25519").privateKey;
    const now = BigInt(Math.floor(Date.now() / 1000));
    const blob = signCertificate(
      {
        key: parseAuthorizedKey(k.publicKey).blob,
        serial: 1n,
        type: "user",
        keyId: "test",
        principals: ["someone"],
        validAfter: now - 60n,
        validBefore: now + 600n,
        extensions: ["permit-pty"],
      },
      ca,
    );
    const line = formatCertificate(parseCertificate(blob));
    writeFileSync(`${k.file}-cert.pub`, `${line}\n`);
    accepted.add(line);
    const r = await ssh(k.file);
    expect(r.stdout, r.stderr).toBe("ran:hostname\n");
    expect(seen.at(-1)).toEqual({ kind: "certificate", certificate: line });
  });

  it("never asks the caller about a key whose signature is missing or wrong", async () => {
    const before = seen.length;
    const k = generateEd25519KeyPair("query-only");
    // An ssh2 client that offers a key but signs with a different one.
    const other = ssh2.utils.parseKey(generateEd25519KeyPair("other").privateKey) as ssh2.ParsedKey;
    const offered = ssh2.utils.parseKey(k.publicKey) as ssh2.ParsedKey;
    // An agent that offers one key but signs with another.
    class WrongSigner extends ssh2.BaseAgent {
      override getIdentities(cb: (err: Error | undefined, keys?: ssh2.ParsedKey[]) => void): void {
        cb(undefined, [offered]);
      }
      override sign(_key: unknown, data: Buffer, ...rest: unknown[]): void {
        const cb = rest.at(-1) as (err: Error | undefined, sig?: Buffer) => void;
        cb(undefined, other.sign(data));
      }
    }
    const result = await new Promise<string>((resolve) => {
      const c = new ssh2.Client();
      c.on("ready", () => {
        c.end();
        resolve("ready");
      });
      c.on("error", (e: Error & { level?: string }) => resolve(e.level ?? e.message));
      c.connect({ host: "127.0.0.1", port: proxyPort, username: "prod-web", agent: new WrongSigner() });
    });
    expect(result).toBe("client-authentication");
    expect(seen.length).toBe(before);
  });
});
