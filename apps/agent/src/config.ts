import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig as load, redactConfig } from "@sluice/config";
import type { VaultProviderOptions } from "@sluice/secrets";
import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const hostPort = z.string().regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, "must be host:port");

/** `host:port`, or several separated by commas (control-plane replicas, tried in turn). */
const hostPortList = z
  .string()
  .default("127.0.0.1:8443")
  .transform((v) =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(hostPort).min(1, "must be host:port, or several separated by commas").max(16));

export const configSchema = z.object({
  SLUICE_CONTROL_PLANE_GRPC: hostPortList,
  SLUICE_AGENT_TOKEN: z
    .string()
    .min(20, "must be the enrollment token printed when the agent was created")
    .max(512),
  SLUICE_CA_FILE: z.string().optional(),
  SLUICE_GRPC_SERVER_NAME: z.string().max(253).optional(),
  SLUICE_GRPC_INSECURE: bool,
  SLUICE_AGENT_STATE_DIR: z.string().default(".sluice/agent"),
  SLUICE_PG_LISTEN: hostPort.default("127.0.0.1:6432"),
  SLUICE_TUNNEL_LISTEN: hostPort.default("127.0.0.1:7443"),
  SLUICE_SSH_LISTEN: hostPort.default("127.0.0.1:2222"),
  SLUICE_MYSQL_LISTEN: hostPort.default("127.0.0.1:3307"),
  /** Accept the Sluice token as mysql_clear_password without TLS, from loopback clients only. */
  SLUICE_MYSQL_LOOPBACK_PLAINTEXT: bool,
  SLUICE_HTTP_LISTEN: hostPort.default("127.0.0.1:8081"),
  /** Serve the HTTP listener without TLS (callers' tokens then cross the network in the clear). */
  SLUICE_HTTP_PLAINTEXT: bool,
  /** Host routing: `<connection>.<domain>` names the connection (path routing `/<connection>/` always works). */
  SLUICE_HTTP_ROUTE_DOMAIN: z
    .string()
    .max(200)
    .regex(
      /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
      "must be a DNS domain in lower case",
    )
    .optional(),
  /** The Kubernetes listener kubectl talks to (`https://agent:6443/<connection>`). */
  SLUICE_KUBE_LISTEN: hostPort.default("127.0.0.1:6443"),
  /** Serve the Kubernetes listener without TLS (callers' tokens then cross the network in the clear). */
  SLUICE_KUBE_PLAINTEXT: bool,
  SLUICE_PG_REQUIRE_TLS: bool,
  SLUICE_TLS_CERT_FILE: z.string().optional(),
  SLUICE_TLS_KEY_FILE: z.string().optional(),
  SLUICE_SPOOL_FLOOR_MB: z.coerce.number().int().min(0).max(1_000_000).default(256),
  SLUICE_MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(64 * 1024 * 1024),
  /**
   * How long a client of any listener may take from connecting to having logged in (TLS,
   * startup or greeting, credential; for HTTP the TLS handshake and each request head).
   * Unset, each protocol keeps its own bound (Postgres 30 s, MySQL 10 s, SSH 30 s,
   * tunnel 10 s, HTTP 10 s for TLS and 30 s for a request head).
   */
  SLUICE_HANDSHAKE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).optional(),
  SLUICE_PUBLIC_HOST: z.string().max(253).optional(),
  SLUICE_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  SLUICE_STALENESS_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  SLUICE_VAULT_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  SLUICE_VAULT_TOKEN: z.string().min(1).max(4096).optional(),
  SLUICE_VAULT_ROLE_ID: z.string().min(1).max(512).optional(),
  SLUICE_VAULT_SECRET_ID: z.string().min(1).max(512).optional(),
  SLUICE_VAULT_NAMESPACE: z.string().max(256).optional(),
  SLUICE_VAULT_CA_FILE: z.string().optional(),
  SLUICE_VAULT_KV_TTL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  /** Key of the deterministic `hash` masking action (hex, ≥ 32 bytes). Agents that share it hash alike. */
  SLUICE_MASK_HASH_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64,256}$/, "must be 32 to 128 bytes of hex")
    .optional(),
  /** How often a session holding a statement for review asks the control plane for the decision. */
  SLUICE_REVIEW_POLL_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type AgentConfig = z.infer<typeof configSchema>;

export function splitHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(":");
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(value.slice(i + 1)) };
}

export const SECRET_KEYS = [
  "SLUICE_AGENT_TOKEN",
  "SLUICE_VAULT_TOKEN",
  "SLUICE_VAULT_ROLE_ID",
  "SLUICE_VAULT_SECRET_ID",
] as const;

const LOOPBACK = ["127.0.0.1", "localhost", "::1", "[::1]"];

function vaultProblems(cfg: AgentConfig): string[] {
  const problems: string[] = [];
  const approle = cfg.SLUICE_VAULT_ROLE_ID !== undefined || cfg.SLUICE_VAULT_SECRET_ID !== undefined;
  if (!cfg.SLUICE_VAULT_ADDR) {
    if (cfg.SLUICE_VAULT_TOKEN || approle)
      problems.push("SLUICE_VAULT_ADDR: required when Vault credentials are configured");
    return problems;
  }
  if (cfg.SLUICE_VAULT_TOKEN && approle) {
    problems.push(
      "SLUICE_VAULT_TOKEN: set either a token or SLUICE_VAULT_ROLE_ID + SLUICE_VAULT_SECRET_ID, not both",
    );
  } else if (approle && !(cfg.SLUICE_VAULT_ROLE_ID && cfg.SLUICE_VAULT_SECRET_ID)) {
    problems.push(
      "SLUICE_VAULT_SECRET_ID: AppRole needs both SLUICE_VAULT_ROLE_ID and SLUICE_VAULT_SECRET_ID",
    );
  } else if (!cfg.SLUICE_VAULT_TOKEN && !approle) {
    problems.push(
      "SLUICE_VAULT_TOKEN: set a token, or SLUICE_VAULT_ROLE_ID + SLUICE_VAULT_SECRET_ID for AppRole",
    );
  }
  const url = new URL(cfg.SLUICE_VAULT_ADDR);
  if (url.protocol === "http:" && !LOOPBACK.includes(url.hostname)) {
    problems.push("SLUICE_VAULT_ADDR: plaintext http is only allowed to a loopback Vault; use https");
  }
  if (cfg.SLUICE_VAULT_CA_FILE) {
    try {
      readFileSync(cfg.SLUICE_VAULT_CA_FILE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      problems.push(`SLUICE_VAULT_CA_FILE: cannot read ${cfg.SLUICE_VAULT_CA_FILE} (${code})`);
    }
  }
  return problems;
}

/** The Vault provider's options, when SLUICE_VAULT_ADDR is set; dynamic leases are recorded in the state dir. */
export function vaultOptions(cfg: AgentConfig): VaultProviderOptions | undefined {
  if (!cfg.SLUICE_VAULT_ADDR) return undefined;
  return {
    address: cfg.SLUICE_VAULT_ADDR,
    auth: cfg.SLUICE_VAULT_TOKEN
      ? { method: "token", token: cfg.SLUICE_VAULT_TOKEN }
      : {
          method: "approle",
          roleId: cfg.SLUICE_VAULT_ROLE_ID as string,
          secretId: cfg.SLUICE_VAULT_SECRET_ID as string,
        },
    ...(cfg.SLUICE_VAULT_NAMESPACE ? { namespace: cfg.SLUICE_VAULT_NAMESPACE } : {}),
    ...(cfg.SLUICE_VAULT_CA_FILE ? { caPem: readFileSync(cfg.SLUICE_VAULT_CA_FILE, "utf8") } : {}),
    kvTtlSeconds: cfg.SLUICE_VAULT_KV_TTL_SECONDS,
    leaseFile: join(cfg.SLUICE_AGENT_STATE_DIR, "vault-leases.json"),
  };
}

export function loadConfig(env: Record<string, string | undefined>): Readonly<AgentConfig> {
  const cfg = load(configSchema, env, SECRET_KEYS);
  const hosts = cfg.SLUICE_CONTROL_PLANE_GRPC.map((a) => splitHostPort(a).host);
  const problems = vaultProblems(cfg);
  if (cfg.SLUICE_GRPC_INSECURE && !hosts.every((h) => ["127.0.0.1", "localhost", "::1"].includes(h))) {
    problems.push("SLUICE_GRPC_INSECURE: plaintext is only allowed to a loopback control plane");
  }
  if (!cfg.SLUICE_GRPC_INSECURE && !cfg.SLUICE_CA_FILE) {
    problems.push(
      "SLUICE_CA_FILE: required to verify the control plane's certificate (or SLUICE_GRPC_INSECURE=true on loopback)",
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

export function describeConfig(cfg: AgentConfig): AgentConfig {
  return redactConfig(cfg, [...SECRET_KEYS]);
}
