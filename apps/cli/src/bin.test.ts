import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, startFakeControlPlane } from "./fake-control-plane.testing";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "sluice.js");

function runBin(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out, err })));
}

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

describe("bin/sluice.js", () => {
  it("prints help", async () => {
    const res = await runBin(["--help"], {});
    expect(res.code).toBe(0);
    expect(res.out).toContain("Usage: sluice");
    expect(res.out).toContain("admin");
  });

  it("lists connections from env-only credentials", async () => {
    cp.route("GET /connections", {
      status: 200,
      body: {
        items: [
          {
            id: "c1",
            name: "pg-prod",
            type: "postgres",
            host: "db",
            port: 5432,
            database: "app",
            agentSegment: "eu",
            allowedGroups: ["dba"],
            policies: [],
          },
        ],
      },
    });
    const configDir = await mkdtemp(join(tmpdir(), "sluice-bin-"));
    const res = await runBin(["admin", "connections", "list"], {
      SLUICE_CONFIG_DIR: configDir,
      SLUICE_URL: cp.url,
      SLUICE_API_KEY: cp.apiKey,
    });
    expect(res).toEqual({
      code: 0,
      out: "NAME     TYPE      ADDRESS  DATABASE  SEGMENT  GROUPS  POLICIES  ID\npg-prod  postgres  db:5432  app       eu       dba     -         c1\n",
      err: "",
    });
  });

  it("exits 2 with the login hint when no key is configured", async () => {
    const configDir = await mkdtemp(join(tmpdir(), "sluice-bin-"));
    const res = await runBin(["whoami"], { SLUICE_CONFIG_DIR: configDir });
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/^error: not logged in: run `sluice login/);
  });
});
