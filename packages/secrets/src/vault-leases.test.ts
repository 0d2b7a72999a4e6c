import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  eventually,
  type FakeVault,
  type PrivateCluster,
  prepareClusterForFakeVault,
  startFakeVault,
  startPrivateCluster,
} from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVaultProvider, type VaultProvider } from "./vault-provider";

let cluster: PrivateCluster;
let fake: FakeVault;
const ref = (path: string) => ({ scheme: "vault-db" as const, path, raw: `vault-db:${path}` });
const ctx = { connection: "pg-dyn", sessionId: "sess-1" };

async function roleExists(name: string): Promise<boolean> {
  const out = await cluster.psql(`SELECT count(*) FROM pg_roles WHERE rolname = '${name}'`);
  return out.trim() === "1";
}

function newProvider(leaseFile: string): VaultProvider {
  return createVaultProvider({
    address: fake.url,
    auth: { method: "approle", roleId: fake.roleId, secretId: fake.secretId },
    leaseFile,
  });
}

beforeAll(async () => {
  cluster = await startPrivateCluster();
  await cluster.psql("CREATE DATABASE appdb");
  await cluster.psql("CREATE TABLE t(x int); INSERT INTO t VALUES (42)", "appdb");
  const connectionUrl = await prepareClusterForFakeVault(cluster, "appdb");
  fake = await startFakeVault({
    database: {
      connectionUrl,
      roles: {
        readonly: {
          creationStatements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`,
          defaultTtlSeconds: 3600,
        },
        short: {
          creationStatements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
          defaultTtlSeconds: 2,
          maxTtlSeconds: 600,
        },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await fake?.close();
  await cluster?.stop();
});

describe("Vault dynamic database credentials", () => {
  it("leases a real database user per session and revokes it on release", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-vault-"));
    const leaseFile = join(dir, "vault-leases.json");
    const p = newProvider(leaseFile);
    const a = await p.resolve(ref("database/creds/readonly"), ctx);
    const b = await p.resolve(ref("database/creds/readonly"), { ...ctx, sessionId: "sess-2" });
    expect(a.username).toMatch(/^v-readonly-[A-Za-z0-9]{20}-\d+$/);
    expect(a.username).not.toBe(b.username);
    const login = spawnSync(
      "psql",
      [
        "-X",
        "-At",
        "-h",
        cluster.host,
        "-p",
        String(cluster.port),
        "-U",
        a.username ?? "",
        "-d",
        "appdb",
        "-c",
        "SELECT x FROM t",
      ],
      { env: { ...process.env, PGPASSWORD: a.secret }, encoding: "utf8" },
    );
    expect(login.stderr).toBe("");
    expect(login.stdout.trim()).toBe("42");
    const recorded = JSON.parse(readFileSync(leaseFile, "utf8"));
    expect(recorded.leases.map((l: { leaseId: string }) => l.leaseId).sort()).toEqual(
      p.activeLeases().sort(),
    );
    expect(JSON.stringify(recorded)).not.toContain(a.secret);
    await a.release?.();
    expect(await roleExists(a.username ?? "")).toBe(false);
    expect(await roleExists(b.username ?? "")).toBe(true);
    await b.release?.();
    await b.release?.();
    expect(await roleExists(b.username ?? "")).toBe(false);
    expect(fake.leases()).toEqual([]);
    expect(existsSync(leaseFile)).toBe(false);
    await p.close();
  });

  it("renews a short lease while the session lives", async () => {
    const p = newProvider(join(mkdtempSync(join(tmpdir(), "sluice-vault-")), "leases.json"));
    const c = await p.resolve(ref("database/creds/short"), ctx);
    await new Promise((r) => setTimeout(r, 4500));
    const lease = fake.leases().find((l) => l.username === c.username);
    expect(lease?.renewals).toBeGreaterThanOrEqual(2);
    expect(await roleExists(c.username ?? "")).toBe(true);
    await c.release?.();
    expect(await roleExists(c.username ?? "")).toBe(false);
    await p.close();
  }, 20_000);

  it("revokes the leases a crashed process left behind when the next one starts", async () => {
    const leaseFile = join(mkdtempSync(join(tmpdir(), "sluice-vault-")), "vault-leases.json");
    const crashed = newProvider(leaseFile);
    const c = await crashed.resolve(ref("database/creds/readonly"), ctx);
    expect(existsSync(leaseFile)).toBe(true);
    // No release, no close: the process is gone.
    const next = newProvider(leaseFile);
    await eventually(async () => !(await roleExists(c.username ?? "")), 10_000, 100);
    await eventually(() => !existsSync(leaseFile), 5_000);
    expect(fake.leases().some((l) => l.username === c.username)).toBe(false);
    await next.close();
  });

  it("keeps a lease it could not revoke in the file and revokes it later", async () => {
    const leaseFile = join(mkdtempSync(join(tmpdir(), "sluice-vault-")), "vault-leases.json");
    const p = newProvider(leaseFile);
    const c = await p.resolve(ref("database/creds/readonly"), ctx);
    await fake.stop();
    await c.release?.();
    expect(existsSync(leaseFile)).toBe(true);
    expect(await roleExists(c.username ?? "")).toBe(true);
    await fake.start();
    const later = await p.revokeLeftovers();
    expect(later).toEqual({ revoked: 1, pending: 0 });
    expect(await roleExists(c.username ?? "")).toBe(false);
    await p.close();
  });

  it("fails a session with a clear error when Vault is down, and leases nothing", async () => {
    const p = newProvider(join(mkdtempSync(join(tmpdir(), "sluice-vault-")), "leases.json"));
    await fake.stop();
    try {
      const err = await p.resolve(ref("database/creds/readonly"), ctx).then(
        () => expect.unreachable(),
        (e: Error) => e,
      );
      expect(err.message).toMatch(
        /^credential for connection pg-dyn is unavailable: vault-db:database\/creds\/readonly: Vault is unreachable \(ECONN(REFUSED|RESET)\)$/,
      );
      expect(p.activeLeases()).toEqual([]);
    } finally {
      await fake.start();
      await p.close();
    }
  });
});
