import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "@sluice/errors";
import { describe, expect, it } from "vitest";
import { createEnvProvider, createFileProvider, createSecretResolver, parseReference } from "./index";

const canary = "canary-secret-8d1f";
const ctx = { connection: "pg-prod" };

describe("credential references", () => {
  it("parses every supported scheme", () => {
    expect(parseReference("env:PG_PASSWORD")).toMatchObject({ scheme: "env", path: "PG_PASSWORD" });
    expect(parseReference("file:/run/secrets/pg")).toMatchObject({ scheme: "file", path: "/run/secrets/pg" });
    expect(parseReference("vault:kv/data/prod/pg#password")).toMatchObject({
      scheme: "vault",
      path: "kv/data/prod/pg",
      field: "password",
    });
    expect(parseReference("vault-db:database/creds/readonly")).toMatchObject({ scheme: "vault-db" });
  });

  it("rejects anything else with a clear error", () => {
    for (const bad of ["hunter2", "env:1BAD", "file:relative", "vault:no-field", "", "x".repeat(501)]) {
      expect(() => parseReference(bad)).toThrow(AppError);
    }
  });
});

describe("resolver", () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-secrets-"));
  const file = join(dir, "pg");
  writeFileSync(file, `${canary}\n`);
  chmodSync(file, 0o600);
  const resolver = createSecretResolver([createEnvProvider({ PG_PASSWORD: canary }), createFileProvider()]);

  it("resolves env and file references", async () => {
    expect((await resolver.resolve("env:PG_PASSWORD", ctx)).secret).toBe(canary);
    expect((await resolver.resolve(`file:${file}`, ctx)).secret).toBe(canary);
  });

  it("names the connection and the reference, never a value", async () => {
    const missing = await resolver.resolve("env:NOT_SET", ctx).then(
      () => expect.unreachable(),
      (e: unknown) => e as AppError,
    );
    expect(missing.message).toBe(
      "credential for connection pg-prod is unavailable: environment variable NOT_SET is not set on the agent",
    );
    const nofile = await resolver.resolve(`file:${dir}/nope`, ctx).then(
      () => expect.unreachable(),
      (e: unknown) => e as AppError,
    );
    expect(nofile.message).toMatch(/cannot read .*nope \(ENOENT\)/);
    const isDir = await resolver.resolve(`file:${dir}`, ctx).then(
      () => expect.unreachable(),
      (e: unknown) => e as AppError,
    );
    expect(isDir.message).toMatch(/not a regular file/);
  });

  it("refuses schemes it has no provider for", async () => {
    const err = await resolver.resolve("vault:kv/data/x#password", ctx).then(
      () => expect.unreachable(),
      (e: unknown) => e as AppError,
    );
    expect(err.code).toBe("credential.unresolvable");
    expect(err.message).toMatch(/not configured for/);
  });
});
