import { spawn } from "node:child_process";
import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { z } from "zod";
import { CliError, ExitCode } from "../cli-error";
import type { CliContext } from "../context";
import { expectShape } from "../print";

interface SshFlags {
  tty?: boolean;
  sshOption?: string[];
  reason?: string;
}

const connectionsSchema = z.looseObject({
  items: z.array(z.looseObject({ id: z.string(), name: z.string(), type: z.string() })),
});

/** One word for `sh -c`, with `%` doubled for ssh's ProxyCommand token expansion. */
export function shellWord(word: string): string {
  const quoted = /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
  return quoted.replace(/%/g, "%%");
}

/** How to run this same CLI again (node, its flags, the entry script). */
export function selfCommand(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1] ?? ""];
}

/**
 * The arguments for OpenSSH's `ssh`: sluice as ProxyCommand, so the session goes
 * through a TLS tunnel to the agent (verified with the control plane's CA) and the agent
 * signs the user in with the tunnel's grant (`none` authentication). The agent's SSH
 * host key is not pinned: the TLS tunnel already proved the agent's identity.
 */
export function sshArguments(connection: string, command: string[], flags: SshFlags, self = selfCommand()) {
  const proxy = [...self, "proxy", "ssh", connection, ...(flags.reason ? ["--reason", flags.reason] : [])];
  const options = [
    `ProxyCommand=${proxy.map(shellWord).join(" ")}`,
    "UserKnownHostsFile=/dev/null",
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=no",
    "CheckHostIP=no",
    "LogLevel=ERROR",
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
    ...(flags.sshOption ?? []),
  ];
  return [
    ...options.flatMap((o) => ["-o", o]),
    ...(flags.tty ? ["-tt"] : []),
    `${connection}@${connection}`,
    ...(command.length > 0 ? ["--", ...command] : []),
  ];
}

export function registerSshCommand(program: Command, ctx: CliContext): void {
  program
    .command("ssh")
    .description("open a shell (or run a command) on an ssh connection through its agent")
    .argument("<connection>", "ssh connection name or id")
    .argument("[command...]", "a command to run instead of a shell (put -- before it)")
    .option("-t, --tty", "force a terminal, e.g. for an interactive command")
    .option("--ssh-option <option>", "pass -o <option> to ssh (repeatable)", (v: string, prev?: string[]) => [
      ...(prev ?? []),
      v,
    ])
    .option("--reason <text>", "why you need access (recorded with the session)")
    .addHelpText(
      "after",
      "\nRuns your OpenSSH client with `sluice proxy ssh` as its ProxyCommand, e.g.\n  sluice ssh prod-web\n  sluice ssh prod-web -- uptime\nThe exit status is the remote command's.",
    )
    .action(async (connection: string, command: string[], flags: SshFlags) => {
      const client = await ctx.client();
      const list = expectShape(
        connectionsSchema,
        await client.get(apiPath("connections")),
        "a connection list",
      );
      const conn = list.items.find((c) => c.name === connection || c.id === connection);
      if (!conn) {
        throw new CliError(
          `unknown connection ${connection}: \`sluice connections\` lists the ones you may use`,
        );
      }
      if (conn.type !== "ssh") {
        throw new CliError(
          `${conn.name} is a ${conn.type} connection; sluice ssh opens ssh connections only (try \`sluice connect ${conn.name}\`)`,
        );
      }
      const code = await runSsh(sshArguments(conn.name, command, flags), ctx.io.env);
      if (code !== 0) throw new CliError("", { exitCode: code, silent: true });
    });
}

function runSsh(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", args, { stdio: "inherit", env });
    // Ctrl-C belongs to the remote side: ssh handles it, this process waits for ssh.
    const ignore = () => undefined;
    process.on("SIGINT", ignore);
    const done = () => process.off("SIGINT", ignore);
    child.once("error", (err: NodeJS.ErrnoException) => {
      done();
      reject(
        err.code === "ENOENT"
          ? new CliError(
              "ssh is not installed or not on PATH: install OpenSSH's client (package openssh-client)",
              {
                exitCode: ExitCode.usage,
              },
            )
          : new CliError(`cannot run ssh: ${err.message}`),
      );
    });
    child.once("exit", (code, signal) => {
      done();
      resolve(code ?? (signal ? 255 : 1));
    });
  });
}
