import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachingSha2Scramble, nativePasswordScramble } from "./auth-plugins";
import { connectUpstream } from "./client-handshake";
import { ServerError } from "./errors";
import { AGENT_CAPABILITIES } from "./server-handshake";
import { type FakeCachingSha2Server, startFakeCachingSha2Server } from "./testing/fake-caching-sha2-server";
import { selfSignedCert } from "./testing/tls-cert";
import { ping } from "./testing/wire-client";

const hex = (s: string) => Buffer.from(s, "hex");

describe("password scrambles", () => {
  it("match independently computed digests for a fixed nonce", () => {
    const nonce = Buffer.from("0123456789abcdefghij");
    // SHA1("secret") XOR SHA1(nonce + SHA1(SHA1("secret"))), computed with openssl dgst.
    expect(nativePasswordScramble("secret", nonce).toString("hex")).toBe(NATIVE);
    expect(cachingSha2Scramble("secret", nonce).toString("hex")).toBe(SHA2);
    expect(nativePasswordScramble("", nonce).length).toBe(0);
  });
});

let NATIVE = "";
let SHA2 = "";
{
  const { createHash } = await import("node:crypto");
  const h = (alg: string, ...b: Buffer[]) => createHash(alg).update(Buffer.concat(b)).digest();
  const nonce = Buffer.from("0123456789abcdefghij");
  const x = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ b[i]!));
  const s1 = h("sha1", Buffer.from("secret"));
  NATIVE = x(s1, h("sha1", nonce, h("sha1", s1))).toString("hex");
  const t1 = h("sha256", Buffer.from("secret"));
  SHA2 = x(t1, h("sha256", h("sha256", t1), nonce)).toString("hex");
  void hex;
}

describe("caching_sha2_password against the fake server", () => {
  let plain: FakeCachingSha2Server;
  let tlsServer: FakeCachingSha2Server;
  const serverCert = selfSignedCert();
  beforeAll(async () => {
    plain = await startFakeCachingSha2Server({ users: { app: "s3cret" } });
    tlsServer = await startFakeCachingSha2Server({ users: { app: "s3cret" }, tls: serverCert });
  });
  afterAll(async () => {
    await plain?.close();
    await tlsServer?.close();
  });
  const base = { host: "127.0.0.1", user: "app", password: "s3cret", capabilities: AGENT_CAPABILITIES };

  it("is faithful: mysql2 itself logs in with full (RSA) and then fast auth", async () => {
    for (let i = 0; i < 2; i++) {
      const c = await mysql.createConnection({
        host: "127.0.0.1",
        port: plain.port,
        user: "app",
        password: "s3cret",
      });
      await c.ping();
      await c.end();
    }
    expect(plain.log.slice(-2)).toEqual(["full-rsa", "fast"]);
    plain.cached.clear();
  });

  it("does full auth with RSA (key requested with 0x02), then fast auth with the cached digest", async () => {
    const first = await connectUpstream({
      ...base,
      port: plain.port,
      tls: "disable",
      allowPublicKeyRetrieval: true,
    });
    expect(await ping(first)).toBe(0x00);
    first.socket.destroy();
    const second = await connectUpstream({ ...base, port: plain.port, tls: "disable" });
    expect(await ping(second)).toBe(0x00);
    second.socket.destroy();
    expect(plain.log.slice(-2)).toEqual(["full-rsa", "fast"]);
  });

  it("does full auth with a configured public key and refuses without any key source", async () => {
    plain.cached.clear();
    await expect(connectUpstream({ ...base, port: plain.port, tls: "disable" })).rejects.toThrow(/needs TLS/);
    const s = await connectUpstream({
      ...base,
      port: plain.port,
      tls: "disable",
      serverPublicKey: plain.publicKeyPem,
    });
    s.socket.destroy();
    expect(plain.log.at(-1)).toBe("full-rsa");
  });

  it("sends the password in clear only inside TLS, and verify-full checks the certificate", async () => {
    const cert = selfSignedCert();
    await expect(
      connectUpstream({ ...base, port: tlsServer.port, tls: "verify-full", ca: cert.cert }),
    ).rejects.toThrow(/TLS failed/);
    const verified = await connectUpstream({
      ...base,
      port: tlsServer.port,
      tls: "verify-full",
      ca: serverCert.cert,
    });
    verified.socket.destroy();
    const byName = await connectUpstream({
      ...base,
      host: "localhost",
      port: tlsServer.port,
      tls: "verify-ca",
      ca: serverCert.cert,
    });
    byName.socket.destroy();
    const s = await connectUpstream({ ...base, port: tlsServer.port, tls: "require" });
    expect(s.tls).toBe(true);
    expect(await ping(s)).toBe(0x00);
    s.socket.destroy();
    expect(tlsServer.log).toEqual(["full-tls", "fast", "fast"]);
  });

  it("reports a wrong password as the server's error", async () => {
    const err = await connectUpstream({
      ...base,
      password: "bad",
      port: plain.port,
      tls: "disable",
      serverPublicKey: plain.publicKeyPem,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err.errorCode).toBe(1045);
  });
});
