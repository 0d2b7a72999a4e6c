import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

export const prismaPaths = {
  packageDir,
  config: resolve(packageDir, "prisma.config.ts"),
  preload: resolve(packageDir, "scripts/unref-long-timers.mjs"),
  cli: require.resolve("prisma/build/index.js"),
  migrations: resolve(packageDir, "../../prisma/migrations"),
} as const;

export interface RunPrismaOptions {
  databaseUrl?: string;
  /** "inherit" streams the CLI's output; "pipe" captures it for the result and errors. */
  stdio?: "inherit" | "pipe";
  env?: NodeJS.ProcessEnv;
}

export interface RunPrismaResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Absolute path of prisma/migrations, the committed migration history. */
export const migrationsDir: string = prismaPaths.migrations;

/**
 * Runs the Prisma CLI in a child process with this package's config and the timer
 * preload, so the command exits as soon as its work is done.
 */
export function runPrisma(args: readonly string[], opts: RunPrismaOptions = {}): Promise<RunPrismaResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    CHECKPOINT_DISABLE: "1",
  };
  if (opts.databaseUrl !== undefined) env.DATABASE_URL = opts.databaseUrl;
  const stdio = opts.stdio ?? "pipe";
  const child = spawn(
    process.execPath,
    ["--import", prismaPaths.preload, prismaPaths.cli, ...args, "--config", prismaPaths.config],
    { cwd: packageDir, env, stdio: [stdio === "inherit" ? "inherit" : "ignore", stdio, stdio] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolvePromise, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Applies pending migrations from prisma/migrations to the database. */
export async function migrateDeploy(databaseUrl: string): Promise<void> {
  const result = await runPrisma(["migrate", "deploy"], { databaseUrl });
  if (result.code !== 0) {
    const output = `${result.stderr}\n${result.stdout}`.trim();
    throw new Error(`prisma migrate deploy failed (exit ${result.code}): ${output}`);
  }
}
