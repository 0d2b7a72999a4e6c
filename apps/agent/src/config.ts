import { ConfigError, loadConfig as load, redactConfig } from "@sluice/config";
import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const hostPort = z.string().regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, "must be host:port");

export const configSchema = z.object({
  SLUICE_CONTROL_PLANE_GRPC: hostPort.default("127.0.0.1:8443"),
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
  SLUICE_PUBLIC_HOST: z.string().max(253).optional(),
  SLUICE_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  SLUICE_STALENESS_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type AgentConfig = z.infer<typeof configSchema>;

export function splitHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(":");
  return { host: value.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(value.slice(i + 1)) };
}

export function loadConfig(env: Record<string, string | undefined>): Readonly<AgentConfig> {
  const cfg = load(configSchema, env, ["SLUICE_AGENT_TOKEN"]);
  const { host } = splitHostPort(cfg.SLUICE_CONTROL_PLANE_GRPC);
  const problems: string[] = [];
  if (cfg.SLUICE_GRPC_INSECURE && !["127.0.0.1", "localhost", "::1"].includes(host)) {
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
  return redactConfig(cfg, ["SLUICE_AGENT_TOKEN"]);
}
