import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pathAccess, readDeployments, withSecretFiles } from "@sluice/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, loadConfig, SECRET_KEYS, splitHostPort } from "./config";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = mkdtempSync(join(tmpdir(), "sluice-deploy-agent-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const placeholders: Record<(typeof SECRET_KEYS)[number], string> = {
  SLUICE_AGENT_TOKEN: `sat_${"x".repeat(40)}`,
  SLUICE_VAULT_TOKEN: "vault-token",
  SLUICE_VAULT_ROLE_ID: "role-id",
  SLUICE_VAULT_SECRET_ID: "secret-id",
};
const known = new Set([...Object.keys(configSchema.shape), ...SECRET_KEYS.map((k) => `${k}_FILE`)]);

describe.each(readDeployments(repoRoot, "agent"))("agent in $source", (d) => {
  const config = () => loadConfig(withSecretFiles(d, placeholders, mkdtempSync(join(dir, "env-"))));

  it("passes the agent's own configuration checks", () => {
    expect(config).not.toThrow();
  });

  it("sets only variables the agent reads, and its token only as a file", () => {
    // Target credentials (env:NAME references) come from a separate secret, not from these files.
    expect(Object.keys(d.env).filter((k) => !known.has(k))).toEqual([]);
    expect(SECRET_KEYS.filter((k) => k in d.env)).toEqual([]);
    expect(d.env.SLUICE_AGENT_TOKEN_FILE).toBeDefined();
  });

  it("reads its files where they are mounted and keeps its state where it may write", () => {
    for (const key of Object.keys(d.env).filter((k) => k.endsWith("_FILE")))
      expect(pathAccess(d, d.env[key] as string), `${key}=${d.env[key]}`).not.toBe("none");
    expect(pathAccess(d, config().SLUICE_AGENT_STATE_DIR)).toBe("write");
  });

  it("listens on every port the deployment exposes, reachable from outside the container", () => {
    if (d.ports.length === 0) return; // systemd: the host's network
    const cfg = config();
    const listeners = [
      cfg.SLUICE_PG_LISTEN,
      cfg.SLUICE_TUNNEL_LISTEN,
      cfg.SLUICE_SSH_LISTEN,
      cfg.SLUICE_MYSQL_LISTEN,
      cfg.SLUICE_HTTP_LISTEN,
    ].map(splitHostPort);
    for (const port of d.ports) {
      const l = listeners.find((x) => x.port === port);
      expect(l, `exposed port ${port}`).toBeDefined();
      expect(l?.host, `listener on ${port}`).toBe("0.0.0.0");
    }
    expect(d.ports).toContain(splitHostPort(cfg.SLUICE_PG_LISTEN).port);
  });
});
