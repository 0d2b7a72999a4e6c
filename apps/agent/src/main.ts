import { ConfigError } from "@sluice/config";
import { createLogger } from "@sluice/logger";
import { AGENT_VERSION, startAgent } from "./agent";
import { describeConfig, loadConfig } from "./config";

const logger = createLogger({ name: "agent", level: process.env.LOG_LEVEL ?? "info" });

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice agent: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  logger.info({ version: AGENT_VERSION, config: describeConfig(config) }, "starting agent");
  const agent = await startAgent(config, process.env, logger);
  agent.link.onState((s) => {
    if (s === "revoked") {
      logger.error("agent credential revoked; exiting");
      void agent.stop().then(() => process.exit(3));
    }
  });
  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down");
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  logger.fatal({ err }, "agent failed to start");
  process.exit(1);
});
