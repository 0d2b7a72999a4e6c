import { resolve } from "node:path";
import { type AgentEndpoint, fetchAgentCa, startSession } from "@sluice/client";
import type { Command } from "commander";
import { CliError } from "../cli-error";
import { configDir } from "../config-store";
import type { CliContext } from "../context";
import {
  credentialError,
  execApiVersion,
  kubeCredential,
  kubernetesConnection,
  renderExecCredential,
} from "./kube/exec-credential";
import { kubeconfigPath, writeKubeconfig } from "./kube/kubeconfig";
import { currentProcess, selfLaunch } from "./kube/self-launch";

interface LoginFlags {
  kubeconfig?: string;
  context?: string;
  use?: boolean;
}

/** `https://host:port/<connection>`, with an IPv6 host in brackets. */
export function serverUrl(endpoint: AgentEndpoint, connection: string): string {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  return `https://${host}:${endpoint.port}/${encodeURIComponent(connection)}`;
}

async function kubeLogin(ctx: CliContext, connection: string, flags: LoginFlags): Promise<void> {
  const client = await ctx.client();
  const conn = await kubernetesConnection(client, connection);
  // The agent (and its Kubernetes endpoint) is known once a session is started for the connection.
  const started = await startSession(client, conn.name, undefined, { via: "kube-login" });
  const endpoint = started.agent.endpoints.find((e) => e.protocol === "kubernetes");
  if (!endpoint) {
    throw new CliError(
      `agent ${started.agent.name}, which serves ${conn.name}, announces no kubernetes endpoint, so kubectl cannot reach it`,
      { details: ["  ask an administrator to enable the agent's Kubernetes listener (SLUICE_KUBE_LISTEN)"] },
    );
  }
  const caPem = await fetchAgentCa(client);
  const env = ctx.io.env;
  const launch = selfLaunch(await currentProcess());
  const name = `sluice-${conn.name}`;
  const context = flags.context ?? name;
  const file = kubeconfigPath(flags.kubeconfig, env);
  await writeKubeconfig(file, {
    name,
    context,
    server: serverUrl(endpoint, conn.name),
    caPem,
    exec: {
      command: launch.command,
      args: [...launch.args, "kube", "credential", conn.name, "--url", client.url],
      // The login is found where it is now, wherever kubectl runs from.
      env: env.SLUICE_CONFIG_DIR || env.XDG_CONFIG_HOME ? { SLUICE_CONFIG_DIR: resolve(configDir(env)) } : {},
    },
    use: flags.use === true,
  });
  ctx.io.stdout(
    `kubeconfig ${file}: context ${context} reaches ${conn.name} through agent ${started.agent.name}\n`,
  );
  ctx.io.stdout(
    flags.use
      ? "it is the current context: kubectl get pods\n"
      : `try: kubectl --context ${context} get pods\n`,
  );
  if (env.SLUICE_API_KEY) {
    ctx.io.stderr("note: kubectl must run with SLUICE_API_KEY set, as here; the kubeconfig holds no key\n");
  }
}

export function registerKubeCommands(program: Command, ctx: CliContext): void {
  const kube = program
    .command("kube")
    .description("use kubectl with kubernetes connections, through their agent")
    .addHelpText(
      "after",
      "\n`sluice kube login <connection>` adds a context for the connection to your kubeconfig, once; then kubectl" +
        "\nruns `sluice kube credential` itself to present your Sluice login to the agent (no secret in the kubeconfig).",
    );

  kube
    .command("login")
    .description("add (or update) a cluster, user and context for a kubernetes connection in your kubeconfig")
    .argument("<connection>", "connection name or id")
    .option(
      "--kubeconfig <path>",
      "the kubeconfig to write (default: first path in $KUBECONFIG, else ~/.kube/config)",
    )
    .option("--context <name>", "name of the context (default: sluice-<connection>)")
    .option("--use", "make it kubectl's current context")
    .action((connection: string, flags: LoginFlags) => kubeLogin(ctx, connection, flags));

  kube
    .command("credential")
    .description(
      "print a client.authentication.k8s.io ExecCredential for kubectl (run by kubectl, not by you)",
    )
    .argument("<connection>", "connection name")
    .option(
      "--url <url>",
      "the control plane this kubeconfig entry belongs to; refuses a login for another one",
    )
    .action(async (connection: string, flags: { url?: string }) => {
      try {
        const credential = await kubeCredential(ctx, connection, flags.url);
        ctx.secrets.add(credential.token);
        ctx.io.stdout(renderExecCredential(execApiVersion(ctx.io.env.KUBERNETES_EXEC_INFO), credential));
      } catch (err) {
        throw credentialError(err, connection);
      }
    });
}
