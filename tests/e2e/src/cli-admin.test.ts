import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

let stack: Stack;
let agent: AgentProcess;
const configDir = mkdtempSync(join(tmpdir(), "sluice-cli-"));

function sluice(args: string[], input?: string, env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [join(repoRoot, "apps/cli/bin/sluice.js"), ...args], {
    env: { ...process.env, SLUICE_CONFIG_DIR: configDir, SLUICE_URL: "", SLUICE_API_KEY: "", ...env },
    input,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

beforeAll(async () => {
  stack = await startStack();
  agent = await stack.startAgent("cli-edge");
}, 90_000);
afterAll(async () => {
  await stack?.stop();
});

describe("sluice CLI against a real control plane and agent", () => {
  it("logs in with a key from stdin and stores it privately", () => {
    const login = sluice(["login", "--api-key", "-", "--url", stack.cp.apiUrl], stack.adminKey);
    expect(login.code, login.stderr).toBe(0);
    const file = join(configDir, "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(sluice(["whoami"]).stdout).toMatch(/admin/);
    expect(login.stdout + login.stderr).not.toContain(stack.adminKey);
  });

  it("rejects a bad key with a clear message and exit code 1", () => {
    const res = sluice(["admin", "agents", "list"], undefined, {
      SLUICE_API_KEY: "slk_aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      SLUICE_URL: stack.cp.apiUrl,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/invalid credentials \(auth.invalid_credentials\)/);
  });

  it("creates a connection that the running agent receives", async () => {
    const res = sluice([
      "admin",
      "connections",
      "create",
      "orders-db",
      "--type",
      "postgres",
      "--host",
      "127.0.0.1",
      "--port",
      "5432",
      "--database",
      "orders",
      "--username",
      "orders_rw",
      "--credential-ref",
      "env:ORDERS_PG_PASSWORD",
    ]);
    expect(res.code, res.stderr).toBe(0);
    await eventually(() => {
      const state = JSON.parse(readFileSync(join(agent.stateDir, "desired-state.json"), "utf8"));
      return state.connections.some(
        (c: { name: string; credentialRef: string }) =>
          c.name === "orders-db" && c.credentialRef === "env:ORDERS_PG_PASSWORD",
      );
    }, 5000);
    const list = sluice(["admin", "agents", "list", "-o", "json"]);
    expect(JSON.parse(list.stdout).items[0]).toMatchObject({ name: "cli-edge", status: "online" });
  });

  it("shows validation problems from the server", () => {
    const res = sluice([
      "admin",
      "connections",
      "create",
      "bad",
      "--type",
      "postgres",
      "--host",
      "h",
      "--port",
      "5432",
      "--credential-ref",
      "hunter2",
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/credentialRef/);
  });
});

describe("sluice audit verify", () => {
  it("passes on a clean log and fails after a row is edited in the database", () => {
    const clean = sluice(["audit", "verify"]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/audit log OK: \d+ entries/);
    const edit = spawnSync(
      "psql",
      [
        "-X",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        stack.db.name,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; UPDATE audit_events SET outcome = 'denied' WHERE seq = 2; ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;",
      ],
      { encoding: "utf8" },
    );
    expect(edit.status, edit.stderr).toBe(0);
    const tampered = sluice(["audit", "verify"]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(
      /verification FAILED at entry 2: content does not match its hash \(edited\)/,
    );
  });
});
