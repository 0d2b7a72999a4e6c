import type { Readable, Writable } from "node:stream";
import type { TLSSocket } from "node:tls";
import { fetchAgentCa, openTunnel, startSession, tunnelEndpoint } from "@sluice/client";
import type { Command } from "commander";
import { CliError } from "../cli-error";
import type { CliContext } from "../context";

/** Copies stdin to the tunnel and the tunnel to stdout until the tunnel closes. */
export function pipeStdio(tunnel: TLSSocket, stdin: Readable, stdout: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.unpipe(tunnel);
      stdin.destroy();
      resolve();
    };
    tunnel.on("error", () => tunnel.destroy());
    tunnel.on("close", done);
    stdout.on("error", () => tunnel.destroy());
    stdin.on("error", () => tunnel.end());
    stdin.pipe(tunnel);
    tunnel.pipe(stdout, { end: false });
  });
}

export function registerProxyCommands(program: Command, ctx: CliContext): void {
  const group = program
    .command("proxy")
    .description("carry one connection over stdin and stdout (for ssh's ProxyCommand)");

  group
    .command("ssh")
    .description("start a session on <connection> and relay its SSH stream over stdin/stdout")
    .argument("<connection>", "ssh connection name or id (ssh passes it as %h)")
    .option("--reason <text>", "why you need access (recorded with the session)")
    .addHelpText(
      "after",
      [
        "",
        "Each invocation starts one session with its own grant, so ssh, scp, sftp and rsync work unchanged:",
        "  ssh -o ProxyCommand='sluice proxy ssh %h' prod-web",
        "  scp -o ProxyCommand='sluice proxy ssh %h' ./file prod-web:/tmp/",
        "  rsync -e \"ssh -o ProxyCommand='sluice proxy ssh %h'\" -a dir/ prod-web:dir/",
        "or once in ~/.ssh/config:  Host prod-web  ProxyCommand sluice proxy ssh %h",
        "The tunnel is TLS to the agent, verified with the control plane's CA; the agent signs you in",
        "without a password. Messages go to stderr: stdout carries the SSH stream only.",
      ].join("\n"),
    )
    .action(async (connection: string, flags: { reason?: string }) => {
      const client = await ctx.client();
      const started = await startSession(client, connection, flags.reason);
      if (started.connection.type !== "ssh") {
        throw new CliError(
          `${started.connection.name} is a ${started.connection.type} connection, not ssh: use \`sluice connect ${started.connection.name}\``,
        );
      }
      const endpoint = tunnelEndpoint(started);
      const caPem = await fetchAgentCa(client);
      const { socket } = await openTunnel({
        agentName: started.agent.name,
        host: endpoint.host,
        port: endpoint.port,
        caPem,
        connection: started.connection.name,
        grant: started.grant,
      });
      await pipeStdio(socket, process.stdin, process.stdout);
    });
}
