import type { AppError } from "@sluice/errors";
import { type FakeVault, startFakeVault } from "@sluice/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSecretResolver } from "./resolver";
import { createVaultProvider, type VaultProviderOptions } from "./vault-provider";

const CANARY = `canary-${Math.random().toString(36).slice(2)}-kv`;
const ctx = { connection: "pg-prod", sessionId: "s-1" };
let fake: FakeVault;
const closers: (() => Promise<void>)[] = [];

function provider(opts: Partial<VaultProviderOptions> = {}) {
  const p = createVaultProvider({
    address: fake.url,
    auth: { method: "token", token: fake.rootToken },
    ...opts,
  });
  closers.push(() => p.close());
  return createSecretResolver([p]);
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  return promise.then(
    () => expect.unreachable("expected the resolution to fail"),
    (e: unknown) => e as AppError,
  );
}

function leaksNothing(err: AppError): void {
  for (const secret of [CANARY, fake.rootToken, fake.secretId, fake.roleId]) {
    expect(err.message).not.toContain(secret);
    expect(String((err as Error).cause ?? "")).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
  }
}

const count = (method: string, path: string) =>
  fake.requests().filter((r) => r.method === method && r.path === path).length;

beforeAll(async () => {
  fake = await startFakeVault();
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  fake.setSealed(false);
  await fake.start().catch(() => undefined);
});

afterAll(async () => {
  await fake.close();
});

describe("Vault KV with a token", () => {
  it("reads KV v2 from data.data and KV v1 from data", async () => {
    fake.putKv("kv", "prod/pg", { password: CANARY, username: "app" });
    fake.putKv("secret", "prod/pg", { password: `${CANARY}-v1` });
    const r = provider();
    expect(await r.resolve("vault:kv/data/prod/pg#password", ctx)).toEqual({ secret: CANARY });
    expect((await r.resolve("vault:secret/prod/pg#password", ctx)).secret).toBe(`${CANARY}-v1`);
  });

  it("renews a renewable token before it expires", async () => {
    const token = fake.createToken({ ttlSeconds: 2, maxTtlSeconds: 60 });
    fake.putKv("kv", "renew/pg", { password: CANARY });
    const r = provider({ auth: { method: "token", token }, kvTtlSeconds: 0 });
    await r.resolve("vault:kv/data/renew/pg#password", ctx);
    await new Promise((res) => setTimeout(res, 3500));
    expect(count("POST", "auth/token/renew-self")).toBeGreaterThanOrEqual(2);
    expect((await r.resolve("vault:kv/data/renew/pg#password", ctx)).secret).toBe(CANARY);
  });

  it("serves the cached value within the TTL and picks up a rotation after it", async () => {
    let clock = 1_000_000;
    fake.putKv("kv", "rotate/pg", { password: `${CANARY}-1` });
    const r = provider({ kvTtlSeconds: 60, now: () => clock });
    const ref = "vault:kv/data/rotate/pg#password";
    expect((await r.resolve(ref, ctx)).secret).toBe(`${CANARY}-1`);
    fake.putKv("kv", "rotate/pg", { password: `${CANARY}-2` });
    clock += 59_000;
    expect((await r.resolve(ref, ctx)).secret).toBe(`${CANARY}-1`);
    expect(count("GET", "kv/data/rotate/pg")).toBe(1);
    clock += 2_000;
    expect((await r.resolve(ref, ctx)).secret).toBe(`${CANARY}-2`);
    expect(count("GET", "kv/data/rotate/pg")).toBe(2);
  });

  it("fails instead of serving an expired value when the refresh fails", async () => {
    let clock = 5_000_000;
    fake.putKv("kv", "stale/pg", { password: CANARY });
    const r = provider({ kvTtlSeconds: 1, now: () => clock });
    await r.resolve("vault:kv/data/stale/pg#password", ctx);
    await fake.stop();
    clock += 1_500;
    const err = await failure(r.resolve("vault:kv/data/stale/pg#password", ctx));
    expect(err.code).toBe("credential.unresolvable");
    expect(err.message).toBe(
      "credential for connection pg-prod is unavailable: vault:kv/data/stale/pg#password: " +
        "the cached value expired and re-reading it failed: Vault is unreachable (ECONNREFUSED)",
    );
    leaksNothing(err);
  });
});

describe("Vault errors name the connection and the reference, never a value", () => {
  it("unreachable", async () => {
    fake.putKv("kv", "down/pg", { password: CANARY });
    await fake.stop();
    const err = await failure(provider().resolve("vault:kv/data/down/pg#password", ctx));
    expect(err.code).toBe("credential.unresolvable");
    expect(err.message).toMatch(
      /^credential for connection pg-prod is unavailable: vault:kv\/data\/down\/pg#password: /,
    );
    expect(err.message).toMatch(/Vault is unreachable \(ECONNREFUSED\)/);
    leaksNothing(err);
  });

  it("sealed", async () => {
    fake.putKv("kv", "sealed/pg", { password: CANARY });
    const r = provider({ auth: { method: "approle", roleId: fake.roleId, secretId: fake.secretId } });
    fake.setSealed(true);
    const err = await failure(r.resolve("vault:kv/data/sealed/pg#password", ctx));
    expect(err.message).toMatch(/pg-prod .*vault:kv\/data\/sealed\/pg#password: Vault is sealed/);
    leaksNothing(err);
  });

  it("denied by policy, missing secret, missing field, bad AppRole secret", async () => {
    fake.putKv("kv", "other/pg", { password: CANARY, port: 5432 as unknown as string });
    const weak = fake.createToken({ policies: ["default"] });
    const denied = await failure(
      provider({ auth: { method: "token", token: weak } }).resolve("vault:kv/data/other/pg#password", ctx),
    );
    expect(denied.message).toMatch(/Vault denied access \(permission denied\)/);
    const r = provider();
    const missing = await failure(r.resolve("vault:kv/data/nope/pg#password", ctx));
    expect(missing.message).toMatch(/nothing exists at that path in Vault/);
    const noField = await failure(r.resolve("vault:kv/data/other/pg#passwd", ctx));
    expect(noField.message).toMatch(/the secret has no field "passwd"/);
    const notString = await failure(r.resolve("vault:kv/data/other/pg#port", ctx));
    expect(notString.message).toMatch(/field "port" is not a non-empty string/);
    const badLogin = await failure(
      provider({
        auth: { method: "approle", roleId: fake.roleId, secretId: `${fake.secretId}x` },
      }).resolve("vault:kv/data/other/pg#password", ctx),
    );
    expect(badLogin.message).toMatch(/Vault refused the agent's AppRole login/);
    for (const e of [denied, missing, noField, notString, badLogin]) leaksNothing(e);
  });
});

describe("Vault AppRole", () => {
  it("logs in, renews its token with renew-self, and logs in again after the token is revoked", async () => {
    const local = await startFakeVault({ appRole: { tokenTtlSeconds: 2, tokenMaxTtlSeconds: 60 } });
    try {
      local.putKv("kv", "prod/pg", { password: CANARY });
      const p = createVaultProvider({
        address: local.url,
        auth: { method: "approle", roleId: local.roleId, secretId: local.secretId },
        kvTtlSeconds: 0,
      });
      closers.push(() => p.close());
      const ref = "vault:kv/data/prod/pg#password";
      const logins = () => local.requests().filter((r) => r.path === "auth/approle/login").length;
      expect(
        (await p.resolve({ scheme: "vault", path: "kv/data/prod/pg", field: "password", raw: ref }, ctx))
          .secret,
      ).toBe(CANARY);
      expect(logins()).toBe(1);
      await new Promise((res) => setTimeout(res, 3000));
      const renewals = local.requests().filter((r) => r.path === "auth/token/renew-self" && r.status === 200);
      expect(renewals.length).toBeGreaterThanOrEqual(1);
      expect(logins()).toBe(1);
      const token = local.tokens().find((t) => t.path === "auth/approle/login");
      await local.revokeToken(token?.id ?? "");
      const again = await p.resolve(
        { scheme: "vault", path: "kv/data/prod/pg", field: "password", raw: ref },
        ctx,
      );
      expect(again.secret).toBe(CANARY);
      expect(logins()).toBe(2);
      expect(local.requests().some((r) => r.path === "kv/data/prod/pg" && r.status === 403)).toBe(true);
    } finally {
      await local.close();
    }
  });
});
