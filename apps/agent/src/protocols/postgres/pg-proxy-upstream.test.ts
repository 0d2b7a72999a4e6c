import { readFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { createTestPki, type PrivateCluster, startPrivateCluster, type TestPki } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_TOKEN, psqlVia, RawClient, run, startTestProxy, type TestProxy } from "./pg-proxy.testing";
import type { PgTarget } from "./pg-proxy-types";

const CANARY = "canary-UpstreamPw-9d2c41";
let cluster: PrivateCluster;
let pki: TestPki;
let otherPki: TestPki;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  [pki, otherPki] = await Promise.all([createTestPki(), createTestPki()]);
  cluster = await startPrivateCluster(
    [
      { name: "scram_user", password: CANARY, method: "scram-sha-256" },
      { name: "md5_user", password: CANARY, method: "md5" },
      { name: "plain_user", password: CANARY, method: "password" },
    ],
    { ssl: { certPem: readFileSync(pki.certFile, "utf8"), keyPem: readFileSync(pki.keyFile, "utf8") } },
  );
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await cluster?.stop();
});

async function proxyTo(user: string, overrides: Partial<Omit<PgTarget, "sessionId">> = {}, deps = {}) {
  const p = await startTestProxy(
    {
      host: cluster.host,
      port: cluster.port,
      database: "postgres",
      user,
      password: async () => CANARY,
      ssl: { mode: "disable" },
      recordRowsLimit: 10,
      ...overrides,
    },
    deps,
  );
  proxies.push(p);
  return p;
}

describe("upstream authentication through the proxy", () => {
  it.each(["scram_user", "md5_user", "plain_user"])(
    "logs in upstream as %s without leaking the password",
    async (user) => {
      const p = await proxyTo(user);
      const res = await psqlVia(p.port, "conn", GOOD_TOKEN, ["-c", "SELECT current_user"]);
      expect(res).toMatchObject({ code: 0, stdout: `${user}\n` });
      const raw = new RawClient(p.port);
      await raw.login("conn");
      raw.socket.end();
      expect(Buffer.concat(raw.received).includes(CANARY)).toBe(false);
      expect(JSON.stringify(p.recorder.events)).not.toContain(CANARY);
      expect(res.stdout + res.stderr).not.toContain(CANARY);
    },
  );

  it("reports an upstream password rejection clearly", async () => {
    const p = await proxyTo("scram_user", { password: async () => `${CANARY}-wrong` });
    const res = await psqlVia(p.port, "conn", GOOD_TOKEN, ["-c", "SELECT 1"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(
      "the target database rejected the connection: password authentication failed",
    );
    expect(res.stderr).not.toContain(CANARY);
  });
});

describe("TLS", () => {
  it("connects upstream with verify-full against the target's CA", async () => {
    const p = await proxyTo("scram_user", { ssl: { mode: "verify-full", ca: pki.caPem } });
    const res = await psqlVia(p.port, "conn", GOOD_TOKEN, [
      "-c",
      "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ]);
    expect(res).toMatchObject({ code: 0, stdout: "t\n" });
  });

  it("refuses an upstream certificate from another CA", async () => {
    const p = await proxyTo("scram_user", { ssl: { mode: "verify-ca", ca: otherPki.caPem } });
    const res = await psqlVia(p.port, "conn", GOOD_TOKEN, ["-c", "SELECT 1"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("could not connect to the target database: TLS handshake failed");
  });

  it("terminates client TLS and can require it", async () => {
    const context = tls.createSecureContext({
      cert: readFileSync(pki.certFile),
      key: readFileSync(pki.keyFile),
    });
    const p = await proxyTo("scram_user", {}, { tls: { context }, requireTls: true });
    const conn = (mode: string) =>
      `host=127.0.0.1 port=${p.port} dbname=conn user=x sslmode=${mode} sslrootcert=${join(pki.dir, "ca.pem")}`;
    const secure = await run("psql", ["-X", "-At", conn("verify-full"), "-c", "SELECT 1"], {
      PGPASSWORD: GOOD_TOKEN,
    });
    expect(secure).toMatchObject({ code: 0, stdout: "1\n" });
    const plain = await run("psql", ["-X", "-At", conn("disable"), "-c", "SELECT 1"], {
      PGPASSWORD: GOOD_TOKEN,
    });
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain("requires TLS");
  });
});
