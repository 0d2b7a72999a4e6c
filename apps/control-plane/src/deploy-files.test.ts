import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { kubernetesObjects, pathAccess, readDeployments, withSecretFiles } from "@sluice/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema, FILE_KEYS, loadConfig } from "./config";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = mkdtempSync(join(tmpdir(), "sluice-deploy-cp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const placeholders: Record<(typeof FILE_KEYS)[number], string> = {
  SLUICE_MASTER_KEY: randomBytes(32).toString("base64"),
  DATABASE_URL: "postgres://sluice:secret@db.internal:5432/sluice",
  REDIS_URL: "redis://redis.internal:6379",
  SLUICE_OIDC_CLIENT_SECRET: "client-secret",
};
const known = new Set([...Object.keys(configSchema.shape), ...FILE_KEYS.map((k) => `${k}_FILE`)]);

describe.each(readDeployments(repoRoot, "control-plane"))("control plane in $source", (d) => {
  it("passes the control plane's own configuration checks", () => {
    const env = withSecretFiles(d, placeholders, mkdtempSync(join(dir, "env-")));
    expect(() => loadConfig(env)).not.toThrow();
  });

  it("sets only variables the control plane reads, and secrets only as files", () => {
    expect(Object.keys(d.env).filter((k) => !known.has(k))).toEqual([]);
    // REDIS_URL may sit in plain configuration when it carries no password.
    expect(FILE_KEYS.filter((k) => k in d.env && !(k === "REDIS_URL" && !d.env[k]?.includes("@")))).toEqual(
      [],
    );
  });

  it("reads its files where they are mounted and writes the bootstrap key where it may", () => {
    for (const key of Object.keys(d.env).filter(
      (k) => k.endsWith("_FILE") && k !== "SLUICE_BOOTSTRAP_ADMIN_KEY_FILE",
    ))
      expect(pathAccess(d, d.env[key] as string), `${key}=${d.env[key]}`).not.toBe("none");
    const bootstrap = d.env.SLUICE_BOOTSTRAP_ADMIN_KEY_FILE;
    if (bootstrap) expect(pathAccess(d, dirname(bootstrap)), bootstrap).toBe("write");
  });

  it("listens on the ports the deployment exposes, reachable from outside the container", () => {
    if (d.ports.length === 0) return; // systemd: the host's network
    const cfg = loadConfig(withSecretFiles(d, placeholders, mkdtempSync(join(dir, "env-"))));
    expect(cfg.SLUICE_API_HOST).toBe("0.0.0.0");
    expect(cfg.SLUICE_GRPC_HOST).toBe("0.0.0.0");
    expect(d.ports).toEqual(expect.arrayContaining([cfg.SLUICE_API_PORT, cfg.SLUICE_GRPC_PORT]));
  });
});

describe("Kubernetes manifests", () => {
  const objects = kubernetesObjects(repoRoot);
  const readme = readFileSync(join(repoRoot, "deploy/kubernetes/README.md"), "utf8");

  it("reference only config maps they define and secrets the README tells how to create", () => {
    const configMaps = new Set(objects.filter((o) => o.kind === "ConfigMap").map((o) => o.metadata.name));
    for (const app of ["control-plane", "agent"] as const) {
      const inKubernetes = readDeployments(repoRoot, app).filter((d) =>
        d.source.startsWith("deploy/kubernetes"),
      );
      for (const ref of inKubernetes.flatMap((d) => d.references)) {
        if (ref.kind === "ConfigMap") expect(configMaps.has(ref.name), ref.name).toBe(true);
        else expect(readme, `Secret ${ref.name}`).toMatch(new RegExp(`create secret \\w+ ${ref.name} `));
      }
    }
  });

  it("probe the control plane's health endpoints on its API port", () => {
    const cp = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "sluice-control-plane");
    const c = cp?.spec?.template.spec.containers[0];
    expect(c?.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "api" });
    expect(c?.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "api" });
    expect(c?.ports).toContainEqual({ name: "api", containerPort: 8080 });
  });
});
