/**
 * Entry point for this package's prisma scripts: `tsx scripts/prisma.ts <prisma args>`.
 *
 * - `generate` works without DATABASE_URL (the schema's datasource requires one to be set).
 * - `migrate dev` first applies pending migrations with `migrate deploy`: in one engine
 *   process, the Wasm schema engine loses its shadow-database factory after applying
 *   migrations, so `migrate dev` must start from an up-to-date database.
 * - `migrate dev --create-only` writes the migration, then fails on a double free of the
 *   engine in the CLI; a new migration directory means the command did its work.
 */
import { readdirSync } from "node:fs";
import { prismaPaths, runPrisma } from "../src/prisma-cli";

const GENERATE_PLACEHOLDER_URL = "postgresql://generate@localhost:5432/unused";

function listMigrations(): Set<string> {
  try {
    return new Set(readdirSync(prismaPaths.migrations));
  } catch {
    return new Set();
  }
}

async function run(args: string[]): Promise<number> {
  return (await runPrisma(args, { stdio: "inherit" })).code;
}

async function main(args: string[]): Promise<number> {
  const [command, subcommand] = args;
  if (command === "generate") {
    process.env.DATABASE_URL ??= GENERATE_PLACEHOLDER_URL;
    return run(args);
  }
  if (command === "migrate" || command === "db") {
    if (!process.env.DATABASE_URL) {
      console.error(`DATABASE_URL must be set for prisma ${command}`);
      return 2;
    }
  }
  if (command === "migrate" && subcommand === "dev") {
    const deployed = await run(["migrate", "deploy"]);
    if (deployed !== 0) return deployed;
    const before = listMigrations();
    const code = await run(args);
    if (code !== 0 && args.includes("--create-only")) {
      const created = [...listMigrations()].filter((name) => !before.has(name));
      if (created.length > 0) {
        console.error(
          `\nCreated ${created.join(", ")} (the error above is raised after the migration was written).`,
        );
        return 0;
      }
    }
    return code;
  }
  return run(args);
}

process.exitCode = await main(process.argv.slice(2));
