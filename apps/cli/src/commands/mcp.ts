import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import { usageError } from "../cli-error";
import { normalizeUrl, readStoredConfig } from "../config-store";
import type { CliContext } from "../context";
import {
  MCP_CLIENTS,
  type McpClientKind,
  mcpConfigAdvice,
  mcpConfigBlock,
  mcpRemoteConfigAdvice,
  mcpRemoteConfigBlock,
} from "../mcp/client-config";
import { createSluiceMcpServer, serveStdio } from "../mcp/server";
import { renderJson } from "../output";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const HEARTBEAT_MS = 10_000;

/**
 * The tools an API key limited to `mcp:<tool>` scopes may use; undefined for every tool. When
 * the control plane cannot be asked now, every tool is offered and each call is checked there.
 */
async function allowedTools(ctx: { client(): Promise<{ get(path: string): Promise<unknown> }> }) {
  try {
    const me = (await (await ctx.client()).get("/me")) as { scopes?: unknown };
    const scopes = Array.isArray(me.scopes)
      ? me.scopes.filter((s): s is string => typeof s === "string")
      : [];
    const tools = scopes.filter((s) => s.startsWith("mcp:")).map((s) => s.slice(4));
    return tools.length > 0 ? tools : undefined;
  } catch {
    return undefined;
  }
}

/** In MCP mode stdout carries the protocol: anything a library would log goes to stderr. */
function keepStdoutForProtocol(): void {
  const toStderr = (...args: unknown[]) => console.error(...args);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  console.warn = toStderr;
}

/** Resolves when SIGINT or SIGTERM arrives, or `io.stop` aborts. */
function stopSignal(ctx: CliContext): AbortSignal {
  const stop = new AbortController();
  const done = () => stop.abort();
  ctx.io.stop?.addEventListener("abort", done, { once: true });
  process.once("SIGINT", done);
  process.once("SIGTERM", done);
  stop.signal.addEventListener("abort", () => {
    process.off("SIGINT", done);
    process.off("SIGTERM", done);
  });
  return stop.signal;
}

export function registerMcpCommands(program: Command, ctx: CliContext, version: string): void {
  const mcp = program
    .command("mcp")
    .description(
      "serve the Model Context Protocol on stdio, so AI assistants reach connections through Sluice",
    )
    .addHelpText(
      "after",
      "\nThe assistant uses your Sluice identity (the stored login or SLUICE_API_KEY), and every tool call goes" +
        "\nthrough the connection's agent: guardrails, masking, reviews and recording apply as for psql." +
        "\nSee `sluice mcp config --help` for the block to put in the assistant's settings.",
    )
    .action(async () => {
      keepStdoutForProtocol();
      const tools = await allowedTools(ctx);
      const server = createSluiceMcpServer(
        {
          client: () => ctx.client(),
          secrets: ctx.secrets,
          heartbeatMs: Number(ctx.io.env.SLUICE_MCP_HEARTBEAT_MS) || HEARTBEAT_MS,
          log: (line) => ctx.io.stderr(`${line}\n`),
        },
        version,
        tools ? { tools } : {},
      );
      const stop = stopSignal(ctx);
      await serveStdio(server, stop);
    });

  mcp
    .command("config")
    .description(
      "print the JSON an assistant's MCP settings need to start `sluice mcp`, or with --remote to reach " +
        "the control plane's /mcp endpoint (never an API key)",
    )
    .addOption(new Option("--client <client>", "the assistant").choices([...MCP_CLIENTS]).default("generic"))
    .option("--url <url>", "control-plane URL (default: SLUICE_URL or the stored login's)")
    .option("--remote", "the URL-based block for the control plane's remote MCP endpoint (Streamable HTTP)")
    .action(async (flags: { client: McpClientKind; url?: string; remote?: boolean }) => {
      const stored = await readStoredConfig(ctx.io.env).catch(() => undefined);
      const raw = flags.url ?? ctx.io.env.SLUICE_URL ?? stored?.url;
      if (!raw) {
        throw usageError("no control-plane URL: log in with `sluice login` or pass --url");
      }
      const url = normalizeUrl(raw);
      if (flags.remote) {
        ctx.io.stdout(renderJson(mcpRemoteConfigBlock(flags.client, url)));
        ctx.io.stderr(mcpRemoteConfigAdvice(flags.client));
        return;
      }
      const block = mcpConfigBlock(flags.client, {
        node: process.execPath,
        bin: BIN,
        url,
        ...(ctx.io.env.SLUICE_CONFIG_DIR ? { configDir: ctx.io.env.SLUICE_CONFIG_DIR } : {}),
      });
      ctx.io.stdout(renderJson(block));
      ctx.io.stderr(mcpConfigAdvice(flags.client));
    });
}
