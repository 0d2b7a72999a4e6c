import type { Command } from "commander";
import pg from "pg";
import { CliError, ExitCode, usageError } from "../cli-error";
import type { CliContext, CliIo } from "../context";
import { readTextFile } from "../flags";
import { renderJson } from "../output";
import {
  type JsonResult,
  renderCsv,
  renderResultTable,
  type SqlOutputFormat,
  toJsonResult,
} from "../sql/format";
import { connectMysql, mysqlServerError, runMysql } from "../sql/mysql-exec";
import { isServerError, type ServerError, SimpleQuery, type StatementResult } from "../sql/simple-query";
import { openTunnel } from "../tunnel/open-tunnel";
import {
  fetchAgentCa,
  type StartedSession,
  startSession,
  startupUser,
  tunnelEndpoint,
} from "../tunnel/session";
import { TunnelStream } from "../tunnel/tunnel-stream";

interface ExecFlags {
  command?: string;
  file?: string;
  reason?: string;
  wait: boolean;
}

/** The review id in the agent's notice about a held statement. */
export function heldReviewId(message: string): string | undefined {
  return /waiting for approval of review ([0-9a-zA-Z-]{1,64})/.exec(message)?.[1];
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
      if (started.connection.type === "mysql") {
        const caPem = await fetchAgentCa(client);
        await execMysql(started, caPem, sql, format, ctx.io);
        return;
      }
      if (started.connection.type !== "postgres") {
        throw new CliError(
          `exec runs SQL on postgres and mysql connections only; ${started.connection.name} is a ${started.connection.type} connection (use \`sluice connect\`)`,
        );
      }
      const caPem = await fetchAgentCa(client);
      const db = await connectThroughAgent(started, caPem, ctx.io);
      const held = flags.wait ? undefined : heldStatement(db);
      try {
        await (held
          ? Promise.race([runSql(db, sql, format, ctx.io, started.agent.name), held])
          : runSql(db, sql, format, ctx.io, started.agent.name));
      } finally {
        await db.end().catch(() => {});
      }
    });
}

/** Rejects once the agent says a statement is held for review, so `--no-wait` can leave. */
function heldStatement(db: pg.Client): Promise<never> {
  return new Promise((_, reject) => {
    db.on("notice", (msg) => {
      const id = heldReviewId(msg.message ?? "");
      if (!id) return;
      reject(
        new CliError(
          `the statement is held for review ${id}; once a reviewer approves it (sluice reviews approve ${id}), run the same SQL again and it runs without waiting`,
          { exitCode: ExitCode.held },
        ),
      );
    });
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

/** `sluice exec` on a MySQL connection: mysql2 over one tunnel, results printed like Postgres'. */
async function execMysql(
  started: StartedSession,
  caPem: string,
  sql: string,
  format: SqlOutputFormat,
  io: CliIo,
): Promise<void> {
  const agentName = started.agent.name;
  const tunnel = await tunnelFor(started, caPem);
  let db: Awaited<ReturnType<typeof connectMysql>>;
  try {
    db = await connectMysql(tunnel.socket, started.connection.database || undefined);
  } catch (err) {
    tunnel.socket.destroy();
    const server = mysqlServerError(err);
    throw new CliError(
      `cannot start the MySQL session through agent ${agentName}: ${server ? serverErrorLine(server) : (err as Error).message}`,
      { exitCode: ExitCode.unreachable, cause: err },
    );
  }
  try {
    await printResults(format, io, (onResult) =>
      runMysql(db, sql, onResult).catch((err: unknown) => {
        throw new CliError(`lost the connection to agent ${agentName}: ${(err as Error).message}`, {
          exitCode: ExitCode.unreachable,
          cause: err,
        });
      }),
    );
  } finally {
    await db.end().catch(() => tunnel.socket.destroy());
  }
}

/** One TLS tunnel to the session's agent, opened with the session's grant. */
function tunnelFor(started: StartedSession, caPem: string) {
  const endpoint = tunnelEndpoint(started);
  return openTunnel({
    agentName: started.agent.name,
    host: endpoint.host,
    port: endpoint.port,
    caPem,
    connection: started.connection.name,
    grant: started.grant,
  });
}

/** Opens one tunnel and a node-postgres client over it; the agent has already authenticated us. */
async function connectThroughAgent(started: StartedSession, caPem: string, io: CliIo): Promise<pg.Client> {
  const agentName = started.agent.name;
  const tunnel = await tunnelFor(started, caPem);
  const db = new pg.Client({
    stream: () => new TunnelStream(tunnel.socket),
    ssl: false,
    user: startupUser(started),
    application_name: "sluice exec",
    ...(started.connection.database ? { database: started.connection.database } : {}),
  });
  db.on("error", () => {});
  db.on("notice", (msg) => io.stderr(`${msg.severity ?? "NOTICE"}: ${msg.message ?? ""}\n`));
  try {
    await db.connect();
  } catch (err) {
    tunnel.socket.destroy();
    const reason = isServerError(err) ? serverErrorLine(err) : (err as Error).message;
    throw new CliError(`cannot start the Postgres session through agent ${agentName}: ${reason}`, {
      exitCode: ExitCode.unreachable,
      cause: err,
    });
  }
  return db;
}

async function runSql(
  db: pg.Client,
  sql: string,
  format: SqlOutputFormat,
  io: CliIo,
  agentName: string,
): Promise<void> {
  await printResults(format, io, async (onResult) => {
    const query = new SimpleQuery(sql, onResult);
    db.query(query);
    try {
      return await query.done;
    } catch (err) {
      throw new CliError(`lost the connection to agent ${agentName}: ${(err as Error).message}`, {
        exitCode: ExitCode.unreachable,
        cause: err,
      });
    }
  });
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

function serverErrorLine(err: ServerError): string {
  return err.code ? `${err.message} (SQLSTATE ${err.code})` : err.message;
}

/** psql-like: `ERROR: <message> (SQLSTATE <code>)`, then DETAIL and HINT when the server sent them. */
export function serverErrorText(err: ServerError): string {
  const lines = [`ERROR: ${serverErrorLine(err)}`];
  if (err.detail) lines.push(`DETAIL: ${err.detail}`);
  if (err.hint) lines.push(`HINT: ${err.hint}`);
  return `${lines.join("\n")}\n`;
}
