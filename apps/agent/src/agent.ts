import { readFileSync } from "node:fs";
import { join } from "node:path";
import { credentials as grpcCredentials } from "@grpc/grpc-js";
import type { Logger } from "@sluice/logger";
import {
  createEnvProvider,
  createFileProvider,
  createSecretResolver,
  type SecretResolver,
} from "@sluice/secrets";
import { type AgentConfig, splitHostPort } from "./config";
import { type AgentLink, createAgentLink } from "./link/agent-link";
import { StateStore } from "./link/state-store";

export const AGENT_VERSION = "0.1.0";

export interface RunningAgent {
  store: StateStore;
  link: AgentLink;
  secrets: SecretResolver;
  stop(): Promise<void>;
}

export async function startAgent(
  config: AgentConfig,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<RunningAgent> {
  const store = new StateStore(join(config.SLUICE_AGENT_STATE_DIR, "desired-state.json"));
  const secrets = createSecretResolver([createEnvProvider(env), createFileProvider()]);
  const channelCredentials = config.SLUICE_GRPC_INSECURE
    ? grpcCredentials.createInsecure()
    : grpcCredentials.createSsl(readFileSync(config.SLUICE_CA_FILE as string));
  const pg = splitHostPort(config.SLUICE_PG_LISTEN);
  const link = createAgentLink({
    target: config.SLUICE_CONTROL_PLANE_GRPC,
    credentials: channelCredentials,
    channelOptions: config.SLUICE_GRPC_SERVER_NAME
      ? { "grpc.ssl_target_name_override": config.SLUICE_GRPC_SERVER_NAME }
      : {},
    token: config.SLUICE_AGENT_TOKEN,
    store,
    logger: logger.child({ component: "link" }),
    heartbeatMs: config.SLUICE_HEARTBEAT_SECONDS * 1000,
    activeSessions: () => 0,
    hello: () => ({
      agentVersion: AGENT_VERSION,
      capabilities: ["postgres", "tcp"],
      endpoints: [{ protocol: "postgres", host: config.SLUICE_PUBLIC_HOST ?? pg.host, port: pg.port }],
    }),
  });
  link.start();
  return {
    store,
    link,
    secrets,
    async stop() {
      link.stop();
      await secrets.close();
    },
  };
}
