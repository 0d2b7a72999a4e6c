import { createServer, isIP, type Server, type Socket } from "node:net";
import { fetchAgentCa, type StartedSession, startSession, startupUser, tunnelEndpoint } from "@sluice/client";
import type { Command } from "commander";
import { CliError, usageError } from "../cli-error";
import { type CliContext, outputFormat, waitForStop } from "../context";
import { intParser } from "../flags";
import { renderJson } from "../output";
import { renderError } from "../render-error";
import { bridgeClient } from "../tunnel/bridge-client";
import { GrantSource } from "../tunnel/grant-source";

interface ConnectFlags {
  port: number;
  host: string;
  allowRemote?: boolean;
  reason?: string;
}

export const DEFAULT_LOCAL_PORT = 5433;

export function registerConnectCommand(program: Command, ctx: CliContext): void {
  program
    .command("connect")
    .description("listen locally and tunnel each client connection to the agent serving <connection>")
    .argument("<connection>", "connection name or id")
    .option("-p, --port <port>", "local port; 0 picks a free one", intParser(0, 65535), DEFAULT_LOCAL_PORT)
    .option("--host <address>", "local address to listen on", "127.0.0.1")
    .option("--allow-remote", "allow a non-loopback --host (anyone who reaches it uses your session)")
    .option("--reason <text>", "why you need access (recorded with the session)")
    .action(async (connection: string, flags: ConnectFlags, cmd: Command) => {
      const format = outputFormat(cmd);
      if (!isLoopback(flags.host) && !flags.allowRemote) {
        throw usageError(
          `--host ${flags.host} is not a loopback address: anyone who can reach it would use your session`,
          ["add --allow-remote to listen there anyway"],
        );
      }
      const client = await ctx.client();
      const start = () => startSession(client, connection, flags.reason);
      const grants = new GrantSource(start);
      const first = grants.use(await start());
      tunnelEndpoint(first);
      const caPem = await fetchAgentCa(client);

      const open = new Set<Socket>();
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        open.add(socket);
        socket.on("close", () => open.delete(socket));
        void bridgeClient(socket, {
          grants,
          caPem,
          open,
          log: (line) => ctx.io.stderr(line),
          describeError: (err) =>
            renderError(err, { debug: ctx.io.env.SLUICE_DEBUG === "1", secrets: ctx.secrets }).text,
        });
      });
      const port = await listen(server, flags.host, flags.port);
      server.on("error", (err) => ctx.io.stderr(`error: local listener failed: ${err.message}\n`));

      if (format === "json") {
        ctx.io.stdout(
          renderJson({
            connection: first.connection.name,
            type: first.connection.type,
            host: flags.host,
            port,
            agent: first.agent.name,
            session: first.session.id,
          }),
        );
      } else {
        ctx.io.stdout(instructions(first, flags.host, port));
      }
      await waitForStop(ctx.io);
      server.close();
      for (const socket of open) socket.destroy();
      ctx.io.stderr("stopped\n");
    });
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): CliError {
  const where = `${host}:${port}`;
  if (err.code === "EADDRINUSE") {
    return new CliError(`cannot listen on ${where}: the port is in use`, {
      details: ["pick another port with --port, or --port 0 for a free one"],
    });
  }
  if (err.code === "EACCES") return new CliError(`cannot listen on ${where}: permission denied`);
  if (err.code === "EADDRNOTAVAIL") return new CliError(`cannot listen on ${where}: no such local address`);
  return new CliError(`cannot listen on ${where}: ${err.message}`);
}

export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

function instructions(started: StartedSession, host: string, port: number): string {
  const conn = started.connection;
  const lines = [
    `listening on ${host}:${port} for ${conn.name} (${conn.type}) via agent ${started.agent.name}`,
  ];
  if (conn.type === "postgres") {
    const db = conn.database ? ` dbname=${conn.database}` : "";
    lines.push(
      "connect with:",
      `  psql "host=${host} port=${port}${db} user=${startupUser(started)} sslmode=disable"`,
      "(the user name is not checked: the agent signs you in as yourself; TLS runs between here and the agent)",
    );
  } else if (conn.type === "mysql") {
    const db = conn.database ? ` ${conn.database}` : "";
    lines.push(
      "connect with:",
      `  mysql -h ${host} -P ${port} --protocol=TCP -u me${db}`,
      "(no password is asked of you here: the agent signs you in as yourself; TLS runs between here and the agent)",
    );
  } else if (conn.type === "http") {
    lines.push(
      "send requests to:",
      `  curl http://${host}:${port}/`,
      "(plain HTTP on this machine only; the agent adds the upstream's credential and TLS runs between here and the agent)",
    );
  } else {
    lines.push(`connect your client to ${host}:${port}`);
  }
  lines.push("each client connection gets its own tunnel; press Ctrl-C to stop");
  return `${lines.join("\n")}\n`;
}
