import { mkdtemp, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { configFile, readStoredConfig } from "./config-store";
import {
  createMemoryIo,
  errorResponse,
  type FakeControlPlane,
  startFakeControlPlane,
} from "./fake-control-plane.testing";
import { NOT_LOGGED_IN } from "./hints";
import { runCli } from "./run";

let cp: FakeControlPlane;
let configDir: string;
beforeAll(async () => {
  cp = await startFakeControlPlane();
  cp.route("GET /me", {
    status: 200,
    body: { id: "u1", name: "ada", email: null, role: "admin", kind: "human", groups: ["dba"] },
  });
});
afterAll(() => cp.close());
beforeEach(async () => {
  configDir = await mkdtemp(join(tmpdir(), "sluice-run-"));
});

const envWithKey = () => ({ SLUICE_CONFIG_DIR: configDir, SLUICE_URL: cp.url, SLUICE_API_KEY: cp.apiKey });

async function run(argv: string[], env: Record<string, string | undefined>, stdin = "") {
  const io = createMemoryIo(env, stdin);
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe("login, whoami, logout", () => {
  it("verifies the key with /me, stores it 0600 and never prints it", async () => {
    const env = { SLUICE_CONFIG_DIR: configDir };
    const res = await run(["login", "--api-key", cp.apiKey, "--url", `${cp.url}/`], env);
    expect(res).toMatchObject({ code: 0, out: `logged in to ${cp.url} as ada (admin)\n` });
    expect(res.out + res.err).not.toContain(cp.apiKey);
    expect(await readStoredConfig(env)).toEqual({ url: cp.url, apiKey: cp.apiKey });
    expect((await stat(configFile(env))).mode & 0o777).toBe(0o600);

    const who = await run(["whoami"], env);
    expect(who.code).toBe(0);
    expect(who.out).toContain("name:    ada");

    expect((await run(["logout"], env)).out).toBe(`logged out (removed ${configFile(env)})\n`);
    expect(await run(["whoami"], env)).toMatchObject({ code: 2, err: `error: ${NOT_LOGGED_IN}\n` });
  });

  it("reads the key from stdin with --api-key -", async () => {
    const env = { SLUICE_CONFIG_DIR: configDir, SLUICE_URL: cp.url };
    const res = await run(["login", "--api-key", "-"], env, `${cp.apiKey}\n`);
    expect(res.code).toBe(0);
    expect((await readStoredConfig(env))?.apiKey).toBe(cp.apiKey);
  });

  it("stores nothing when the key is rejected, and does not echo it", async () => {
    const env = { SLUICE_CONFIG_DIR: configDir };
    const res = await run(["login", "--api-key", "slk_bad_key_value", "--url", cp.url], env);
    expect(res.code).toBe(1);
    expect(res.err).toContain("error: invalid or expired API key (auth.invalid_credentials)");
    expect(res.err).not.toContain("slk_bad_key_value");
    expect(await readStoredConfig(env)).toBeUndefined();
  });
});

describe("output modes", () => {
  const list = {
    items: [{ id: "c1", name: "pg-prod", type: "postgres", host: "db", port: 5432, database: "app" }],
  };

  it("prints a table by default and raw JSON with -o json before or after the command", async () => {
    cp.route("GET /connections", { status: 200, body: list });
    const table = await run(["connections"], envWithKey());
    expect(table.out).toBe(
      "NAME     TYPE      ADDRESS  DATABASE  DESCRIPTION\npg-prod  postgres  db:5432  app       -\n",
    );
    for (const argv of [
      ["-o", "json", "admin", "connections", "list"],
      ["admin", "connections", "list", "-o", "json"],
      ["admin", "connections", "list", "--output=json"],
    ]) {
      const res = await run(argv, envWithKey());
      expect(res.code).toBe(0);
      expect(JSON.parse(res.out)).toEqual(list);
    }
  });

  it("says 'no <resource>' on stderr for an empty list and exits 0", async () => {
    cp.route("GET /policies", { status: 200, body: { items: [] } });
    expect(await run(["admin", "policies", "list"], envWithKey())).toEqual({
      code: 0,
      out: "",
      err: "no policies\n",
    });
    expect((await run(["admin", "policies", "list", "-o", "json"], envWithKey())).out).toBe(
      '{\n  "items": []\n}\n',
    );
  });

  it("rejects an unknown output format", async () => {
    const res = await run(["-o", "yaml", "connections"], envWithKey());
    expect(res.code).toBe(2);
    expect(res.err).toContain("Allowed choices are table, json");
  });
});

describe("admin errors and usage", () => {
  it("shows server validation details with exit 1", async () => {
    cp.route(
      "POST /connections",
      errorResponse(400, "request.invalid", "invalid request body", {
        issues: [{ path: "credentialRef", message: "must be a reference such as env:NAME" }],
      }),
    );
    const res = await run(
      [
        "admin",
        "connections",
        "create",
        "pg",
        "--type",
        "postgres",
        "--host",
        "db",
        "--port",
        "5432",
        "--credential-ref",
        "hunter2",
      ],
      envWithKey(),
    );
    expect(res).toEqual({
      code: 1,
      out: "",
      err: "error: invalid request body (request.invalid)\n  - credentialRef: must be a reference such as env:NAME\n",
    });
  });

  it("reports a 404 by name", async () => {
    cp.route("GET /users/nobody", errorResponse(404, "user.not_found", "user nobody not found"));
    expect((await run(["admin", "users", "get", "nobody"], envWithKey())).err).toBe(
      "error: user nobody not found (user.not_found)\n",
    );
  });

  it("rejects bad flags before calling the server, with exit 2", async () => {
    const before = cp.requests.length;
    const port = await run(
      ["admin", "connections", "create", "pg", "--type", "postgres", "--host", "db", "--port", "abc"],
      envWithKey(),
    );
    expect(port.code).toBe(2);
    expect(port.err).toContain(
      "error: option '--port <port>' argument 'abc' is invalid. must be a number from 1 to 65535",
    );
    const label = await run(["admin", "agents", "create", "eu-1", "--label", "segment"], envWithKey());
    expect(label.code).toBe(2);
    expect(label.err).toContain("expected key=value");
    const missing = await run(["admin", "connections", "create", "pg", "--type", "ssh"], envWithKey());
    expect(missing).toMatchObject({ code: 2, err: expect.stringContaining("missing --host") });
    expect((await run(["admin", "nope"], envWithKey())).code).toBe(2);
    expect(cp.requests.length).toBe(before);
  });

  it("deletes without asking and says what it deleted", async () => {
    cp.route("DELETE /connections/pg-prod", { status: 204 });
    expect(await run(["admin", "connections", "delete", "pg-prod"], envWithKey())).toEqual({
      code: 0,
      out: "deleted connection pg-prod\n",
      err: "",
    });
    const json = await run(["admin", "connections", "rm", "pg-prod", "-o", "json"], envWithKey());
    expect(JSON.parse(json.out)).toEqual({ deleted: { resource: "connection", id: "pg-prod" } });
  });

  it("prints help and the version with exit 0", async () => {
    expect((await run(["--help"], {})).out).toContain("Usage: sluice");
    expect((await run(["--version"], {})).out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
