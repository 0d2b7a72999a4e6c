import { ConfigError } from "@sluice/config";
import { createLogger } from "@sluice/logger";
import { describeConfig, loadConfig } from "./config";
import { startControlPlane, VERSION } from "./control-plane";

const SHUTDOWN_TIMEOUT_MS = 15_000;
const logger = createLogger({ name: "control-plane", level: process.env.LOG_LEVEL ?? "info" });

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice control plane: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  logger.info({ version: VERSION, config: describeConfig(config) }, "starting control plane");
  const cp = await startControlPlane(config, logger);
  if (cp.bootstrapKey && config.SLUICE_BOOTSTRAP_ADMIN_KEY_FILE) {
    logger.info(
      { file: config.SLUICE_BOOTSTRAP_ADMIN_KEY_FILE },
      "bootstrap admin API key written (mode 0600)",
    );
  } else if (cp.bootstrapKey) {
    // Printed once, straight to the terminal, never through the logger.
    process.stdout.write(`\nBootstrap admin API key, shown once:\n\n  ${cp.bootstrapKey}\n\n`);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      logger.warn({ signal }, "second signal during shutdown: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    // In-flight work gets a bounded time; a stuck database or client never keeps the process up.
    setTimeout(() => {
      logger.error({ afterMs: SHUTDOWN_TIMEOUT_MS }, "shutdown did not finish in time: exiting");
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    cp.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  logger.fatal({ err }, "control plane failed to start");
  process.exit(1);
});
