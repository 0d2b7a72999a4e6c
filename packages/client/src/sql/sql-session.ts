import pg from "pg";
import { CliError, ExitCode } from "../errors";
import { openSessionTunnel, type StartedSession, startupUser } from "../tunnel/session";
import { TunnelStream } from "../tunnel/tunnel-stream";
import { connectMysql, mysqlServerError, runMysql } from "./mysql-exec";
import {
  isServerError,
  type RowFilter,
  type ServerError,
  SimpleQuery,
  type StatementResult,
} from "./simple-query";

/** A notice the server (or the agent, for held statements) sent while a statement ran. */
export interface SqlNotice {
  severity: string;
  message: string;
}

/** One SQL session through an agent's tunnel, on a postgres or a mysql connection. */
export interface SqlSession {
  readonly type: "postgres" | "mysql";
  /**
   * Runs SQL text (several statements allowed), handing each statement's result to
   * `onResult`; resolves with the server's error when a statement failed, rejects when
   * the connection to the agent is lost. `keepRow` may drop rows as they arrive (Postgres).
   */
  run(
    sql: string,
    onResult: (result: StatementResult) => void,
    keepRow?: RowFilter,
  ): Promise<{ error?: ServerError }>;
  close(): Promise<void>;
}

export interface SqlSessionOptions {
  /** application_name / program_name the agent records for the client. */
  applicationName: string;
  onNotice?: (notice: SqlNotice) => void;
}

/** The review id in the agent's notice about a held statement. */
export function heldReviewId(message: string): string | undefined {
  return /waiting for approval of review ([0-9a-zA-Z-]{1,64})/.exec(message)?.[1];
}

/** `message (SQLSTATE code)`, as the CLI shows a server error on one line. */
export function serverErrorLine(err: ServerError): string {
  return err.code ? `${err.message} (SQLSTATE ${err.code})` : err.message;
}

function lostAgent(agentName: string, err: unknown): CliError {
  return new CliError(`lost the connection to agent ${agentName}: ${(err as Error).message}`, {
    exitCode: ExitCode.unreachable,
    cause: err,
  });
}

/** Opens a SQL session of the started session's type; the agent has already authenticated us by the grant. */
export async function openSqlSession(
  started: StartedSession,
  caPem: string,
  options: SqlSessionOptions,
): Promise<SqlSession> {
  if (started.connection.type === "mysql") return openMysqlSession(started, caPem, options);
  if (started.connection.type === "postgres") return openPgSession(started, caPem, options);
  throw new CliError(
    `SQL runs on postgres and mysql connections only; ${started.connection.name} is a ${started.connection.type} connection`,
  );
}

async function openPgSession(
  started: StartedSession,
  caPem: string,
  options: SqlSessionOptions,
): Promise<SqlSession> {
  const agentName = started.agent.name;
  const tunnel = await openSessionTunnel(started, caPem);
  const db = new pg.Client({
    stream: () => new TunnelStream(tunnel.socket),
    ssl: false,
    user: startupUser(started),
    application_name: options.applicationName,
    ...(started.connection.database ? { database: started.connection.database } : {}),
  });
  db.on("error", () => {});
  db.on("notice", (msg) =>
    options.onNotice?.({ severity: msg.severity ?? "NOTICE", message: msg.message ?? "" }),
  );
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
  return {
    type: "postgres",
    async run(sql, onResult, keepRow) {
      const query = new SimpleQuery(sql, onResult, keepRow);
      db.query(query);
      try {
        return await query.done;
      } catch (err) {
        throw lostAgent(agentName, err);
      }
    },
    close: () => db.end().catch(() => {}),
  };
}

async function openMysqlSession(
  started: StartedSession,
  caPem: string,
  options: SqlSessionOptions,
): Promise<SqlSession> {
  const agentName = started.agent.name;
  const tunnel = await openSessionTunnel(started, caPem);
  let db: Awaited<ReturnType<typeof connectMysql>>;
  try {
    db = await connectMysql(tunnel.socket, started.connection.database || undefined, options.applicationName);
  } catch (err) {
    tunnel.socket.destroy();
    const server = mysqlServerError(err);
    throw new CliError(
      `cannot start the MySQL session through agent ${agentName}: ${server ? serverErrorLine(server) : (err as Error).message}`,
      { exitCode: ExitCode.unreachable, cause: err },
    );
  }
  return {
    type: "mysql",
    run: (sql, onResult) =>
      runMysql(db, sql, onResult).catch((err: unknown) => {
        throw lostAgent(agentName, err);
      }),
    close: () =>
      db.end().catch(() => {
        tunnel.socket.destroy();
      }),
  };
}
