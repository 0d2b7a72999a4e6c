import type { ServerError, StatementResult } from "@sluice/client";
import {
  fetchAgentCa,
  heldReviewId,
  type JsonResult,
  openSqlSession,
  renderCsv,
  renderResultTable,
  type SqlOutputFormat,
  serverErrorLine,
  startSession,
  toJsonResult,
} from "@sluice/client";
import type { Command } from "commander";
import { CliError, ExitCode, usageError } from "../cli-error";
import type { CliContext, CliIo } from "../context";
import { readTextFile } from "../flags";
import { renderJson } from "../output";

interface ExecFlags {
  command?: string;
  file?: string;
  reason?: string;
  wait: boolean;
}

const sqlFormats: readonly SqlOutputFormat[] = ["table", "csv", "json"];
const MAX_SQL_BYTES = 16 * 1024 * 1024;

export function registerExecCommand(program: Command, ctx: CliContext): void {
  program
    .command("exec")
    .description("run SQL on a Postgres or MySQL connection through its agent and print the results")
    .argument("<connection>", "connection name or id")
    .option("-c, --command <sql>", "SQL to run; several statements separated by ; are allowed")
    .option("-f, --file <file>", "read the SQL from a file (- for stdin)")
    .option("--reason <text>", "why you need access (recorded with the session)")
    .option(
      "--no-wait",
      "if a statement needs a reviewer's approval, print the review id and exit (code 4) instead of waiting; run the same SQL again once it is approved",
    )
    .addHelpText(
      "after",
      "\nWithout -c or -f the SQL is read from stdin. Output: -o table (default), csv or json.",
    )
    .action(async (connection: string, flags: ExecFlags, cmd: Command) => {
      const format = sqlFormat(cmd);
      const sql = await readSql(ctx.io, flags);
      const client = await ctx.client();
      const started = await startSession(client, connection, flags.reason);
      if (started.connection.type !== "postgres" && started.connection.type !== "mysql") {
        throw new CliError(
          `exec runs SQL on postgres and mysql connections only; ${started.connection.name} is a ${started.connection.type} connection (use \`sluice connect\`)`,
        );
      }
      const caPem = await fetchAgentCa(client);
      let onHeld: ((id: string) => void) | undefined;
      const held = flags.wait ? undefined : heldStatement((notify) => (onHeld = notify));
      const db = await openSqlSession(started, caPem, {
        applicationName: "sluice exec",
        onNotice: (notice) => {
          ctx.io.stderr(`${notice.severity}: ${notice.message}\n`);
          const id = heldReviewId(notice.message);
          if (id) onHeld?.(id);
        },
      });
      try {
        const run = printResults(format, ctx.io, (onResult) => db.run(sql, onResult));
        await (held ? Promise.race([run, held]) : run);
      } finally {
        await db.close();
      }
    });
}

/** Rejects once the agent says a statement is held for review, so `--no-wait` can leave. */
function heldStatement(listen: (notify: (id: string) => void) => void): Promise<never> {
  return new Promise((_, reject) => {
    listen((id) =>
      reject(
        new CliError(
          `the statement is held for review ${id}; once a reviewer approves it (sluice reviews approve ${id}), run the same SQL again and it runs without waiting`,
          { exitCode: ExitCode.held },
        ),
      ),
    );
  });
}

function sqlFormat(cmd: Command): SqlOutputFormat {
  const value = String(cmd.optsWithGlobals().output ?? "table");
  if (!(sqlFormats as readonly string[]).includes(value)) {
    throw usageError(`invalid --output "${value}": use ${sqlFormats.join(", ")}`);
  }
  return value as SqlOutputFormat;
}

async function readSql(io: CliIo, flags: ExecFlags): Promise<string> {
  if (flags.command !== undefined && flags.file !== undefined)
    throw usageError("pass either -c or -f, not both");
  let sql: string | undefined = flags.command;
  if (sql === undefined && flags.file !== undefined && flags.file !== "-") {
    sql = await readTextFile(flags.file, "--file");
  }
  if (sql === undefined) {
    if (io.stdinIsTTY && flags.file !== "-") {
      throw usageError("no SQL given: pass -c <sql>, -f <file>, or pipe the SQL on stdin");
    }
    sql = await readStdin(io.stdin);
  }
  if (!sql.trim()) throw usageError("no SQL to run: the statement text is empty");
  return sql;
}

async function readStdin(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_SQL_BYTES) throw usageError("the SQL on stdin is too long (16 MiB at most)");
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Prints each statement's result as it completes; a server error goes to stderr and fails the command. */
async function printResults(
  format: SqlOutputFormat,
  io: CliIo,
  execute: (onResult: (result: StatementResult) => void) => Promise<{ error?: ServerError }>,
): Promise<void> {
  const json: JsonResult[] = [];
  let printed = 0;
  const onResult = (result: StatementResult) => {
    if (format === "json") {
      json.push(toJsonResult(result));
      return;
    }
    if (format === "csv" && !result.columns) {
      io.stderr(`${result.command}\n`);
      return;
    }
    const text = format === "csv" ? renderCsv(result) : renderResultTable(result);
    io.stdout(printed++ > 0 ? `\n${text}` : text);
  };
  let outcome: { error?: ServerError };
  try {
    outcome = await execute(onResult);
  } finally {
    if (format === "json") io.stdout(renderJson(json));
  }
  if (outcome.error) {
    io.stderr(serverErrorText(outcome.error));
    throw new CliError(outcome.error.message, { silent: true });
  }
}

/** psql-like: `ERROR: <message> (SQLSTATE <code>)`, then DETAIL and HINT when the server sent them. */
export function serverErrorText(err: ServerError): string {
  const lines = [`ERROR: ${serverErrorLine(err)}`];
  if (err.detail) lines.push(`DETAIL: ${err.detail}`);
  if (err.hint) lines.push(`HINT: ${err.hint}`);
  return `${lines.join("\n")}\n`;
}
