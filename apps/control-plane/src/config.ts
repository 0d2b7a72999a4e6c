import { hostname } from "node:os";
import { ConfigError, loadConfig as load, redactConfig } from "@sluice/config";
import { z } from "zod";
import type { OidcSettings } from "./modules/identity/oidc-login.service";
import type { NotificationJobSettings } from "./modules/notifications/notifications.jobs";

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const list = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );

const masterKey = z
  .string()
  .refine((v) => decodeMasterKey(v)?.length === 32, "must be 32 bytes, base64 or hex encoded");

export const configSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "must be a redis:// URL")
    .default("redis://127.0.0.1:6379"),
  SLUICE_REDIS_PREFIX: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9:_-]*$/)
    .default("sluice:"),
  SLUICE_API_HOST: z.string().default("127.0.0.1"),
  SLUICE_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  SLUICE_PUBLIC_URL: z.string().url().optional(),
  /** Browser origins (besides the public URL's) allowed to call /mcp, comma-separated. */
  SLUICE_MCP_ALLOWED_ORIGINS: z
    .string()
    .max(4000)
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .url()
            .transform((u) => new URL(u).origin),
        )
        .max(50),
    ),
  SLUICE_GRPC_HOST: z.string().default("127.0.0.1"),
  SLUICE_GRPC_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  SLUICE_GRPC_TLS_CERT_FILE: z.string().optional(),
  SLUICE_GRPC_TLS_KEY_FILE: z.string().optional(),
  SLUICE_GRPC_INSECURE: bool,
  SLUICE_CA_CERT_FILE: z.string().optional(),
  SLUICE_CA_KEY_FILE: z.string().optional(),
  SLUICE_MASTER_KEY: masterKey,
  SLUICE_BOOTSTRAP_ADMIN_KEY_FILE: z.string().optional(),
  SLUICE_AGENT_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  SLUICE_AGENT_OFFLINE_AFTER_SECONDS: z.coerce.number().int().min(2).max(3600).default(15),
  SLUICE_REPLICA_ID: z.string().max(100).default(`${hostname()}-${process.pid}`),
  SLUICE_MIGRATE_ON_START: bool,
  /** PostgreSQL connections this replica may hold. */
  SLUICE_DB_POOL_SIZE: z.coerce.number().int().min(2).max(500).default(20),
  /** Session authorizations in flight at once; beyond it they wait in a queue. */
  SLUICE_ADMISSION_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  /** Authorizations allowed to wait; beyond it (or after the wait bound) the answer is "busy, retry". */
  SLUICE_ADMISSION_QUEUE: z.coerce.number().int().min(0).max(100_000).default(5000),
  SLUICE_ADMISSION_MAX_WAIT_MS: z.coerce.number().int().min(10).max(60_000).default(8000),
  SLUICE_GRANT_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
  SLUICE_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(600),
  SLUICE_REFRESH_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(90 * 86_400)
    .default(7 * 86_400),
  SLUICE_LOGIN_MAX_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .default(30 * 86_400),
  SLUICE_OIDC_ISSUER: z.string().url().optional(),
  SLUICE_OIDC_CLIENT_ID: z.string().max(200).optional(),
  SLUICE_OIDC_CLIENT_SECRET: z.string().max(1000).optional(),
  SLUICE_OIDC_SCOPES: z.string().max(500).default("openid profile email"),
  SLUICE_OIDC_GROUPS_CLAIM: z.string().min(1).max(100).default("groups"),
  SLUICE_OIDC_ADMIN_GROUPS: list,
  SLUICE_OIDC_AUDITOR_GROUPS: list,
  SLUICE_OIDC_ALLOW_INSECURE_HTTP: bool,
  SLUICE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  SLUICE_NOTIFY_WORKER: z
    .enum(["true", "false", "1", "0", ""])
    .default("true")
    .transform((v) => v !== "false" && v !== "0"),
  SLUICE_NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(25).default(6),
  SLUICE_NOTIFY_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(5000),
  SLUICE_NOTIFY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  SLUICE_NOTIFY_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(8),
  /** Sessions one identity may open per minute, across replicas (0: no limit). */
  SLUICE_SESSIONS_PER_MINUTE_PER_IDENTITY: z.coerce.number().int().min(0).max(1_000_000).default(0),
  /** Sessions that may be opened on one connection per minute (0: no limit). */
  SLUICE_SESSIONS_PER_MINUTE_PER_CONNECTION: z.coerce.number().int().min(0).max(1_000_000).default(0),
  SLUICE_SESSION_SWEEP_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(5000),
  SLUICE_REVIEW_SWEEP_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(5000),
  /** How long an approved statement stays usable when nobody was waiting for it (sluice exec --no-wait). */
  SLUICE_STATEMENT_APPROVAL_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(3600),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type ControlPlaneConfig = z.infer<typeof configSchema>;

const secretKeys = ["SLUICE_MASTER_KEY", "DATABASE_URL", "REDIS_URL", "SLUICE_OIDC_CLIENT_SECRET"] as const;

export function decodeMasterKey(value: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, "hex");
  const buf = Buffer.from(value, "base64");
  return buf.length === 32 ? buf : undefined;
}

/** Settings that may be given as `NAME_FILE` (secrets belong in files). */
export const FILE_KEYS = [
  "SLUICE_MASTER_KEY",
  "DATABASE_URL",
  "REDIS_URL",
  "SLUICE_OIDC_CLIENT_SECRET",
] as const;

export function loadConfig(env: Record<string, string | undefined>): Readonly<ControlPlaneConfig> {
  const cfg = load(configSchema, env, FILE_KEYS);
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(cfg.SLUICE_GRPC_HOST);
  const problems: string[] = [];
  if (cfg.SLUICE_GRPC_INSECURE && !loopback) {
    problems.push("SLUICE_GRPC_INSECURE: plaintext gRPC is only allowed on a loopback SLUICE_GRPC_HOST");
  }
  if (!cfg.SLUICE_GRPC_INSECURE && !(cfg.SLUICE_GRPC_TLS_CERT_FILE && cfg.SLUICE_GRPC_TLS_KEY_FILE)) {
    problems.push(
      "SLUICE_GRPC_TLS_CERT_FILE/SLUICE_GRPC_TLS_KEY_FILE: required unless SLUICE_GRPC_INSECURE=true (loopback only)",
    );
  }
  if (Boolean(cfg.SLUICE_CA_CERT_FILE) !== Boolean(cfg.SLUICE_CA_KEY_FILE)) {
    problems.push("SLUICE_CA_CERT_FILE/SLUICE_CA_KEY_FILE: give both or neither");
  }
  if (Boolean(cfg.SLUICE_OIDC_ISSUER) !== Boolean(cfg.SLUICE_OIDC_CLIENT_ID)) {
    problems.push("SLUICE_OIDC_ISSUER/SLUICE_OIDC_CLIENT_ID: give both or neither");
  }
  if (cfg.SLUICE_OIDC_ISSUER?.startsWith("http:")) {
    const host = new URL(cfg.SLUICE_OIDC_ISSUER).hostname;
    if (!cfg.SLUICE_OIDC_ALLOW_INSECURE_HTTP || !["127.0.0.1", "localhost", "[::1]"].includes(host)) {
      problems.push(
        "SLUICE_OIDC_ISSUER: must be https (plain http only for a loopback issuer with SLUICE_OIDC_ALLOW_INSECURE_HTTP=true)",
      );
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return cfg;
}

/** The OIDC settings for people's logins, or undefined when no IdP is configured. */
export function oidcSettings(cfg: ControlPlaneConfig): OidcSettings | undefined {
  if (!cfg.SLUICE_OIDC_ISSUER || !cfg.SLUICE_OIDC_CLIENT_ID) return undefined;
  return {
    issuer: cfg.SLUICE_OIDC_ISSUER,
    clientId: cfg.SLUICE_OIDC_CLIENT_ID,
    clientSecret: cfg.SLUICE_OIDC_CLIENT_SECRET,
    scopes: cfg.SLUICE_OIDC_SCOPES,
    groupsClaim: cfg.SLUICE_OIDC_GROUPS_CLAIM,
    adminGroups: cfg.SLUICE_OIDC_ADMIN_GROUPS,
    auditorGroups: cfg.SLUICE_OIDC_AUDITOR_GROUPS,
    allowInsecure: cfg.SLUICE_OIDC_ALLOW_INSECURE_HTTP,
  };
}

/** Retry, backoff and timeout settings of the notification queue and worker. */
export function notificationSettings(cfg: ControlPlaneConfig): NotificationJobSettings {
  return {
    maxAttempts: cfg.SLUICE_NOTIFY_MAX_ATTEMPTS,
    backoffMs: cfg.SLUICE_NOTIFY_BACKOFF_MS,
    concurrency: cfg.SLUICE_NOTIFY_CONCURRENCY,
    requestTimeoutMs: cfg.SLUICE_NOTIFY_TIMEOUT_MS,
  };
}

export function describeConfig(cfg: ControlPlaneConfig): ControlPlaneConfig {
  return redactConfig(cfg, [...secretKeys]);
}
