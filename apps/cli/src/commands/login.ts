import type { Command } from "commander";
import { z } from "zod";
import { usageError } from "../cli-error";
import {
  configFile,
  normalizeUrl,
  readKeyFromStdin,
  readStoredConfig,
  removeStoredConfig,
  writeStoredConfig,
} from "../config-store";
import { type CliContext, outputFormat } from "../context";
import { DEFAULT_CONTROL_PLANE_URL } from "../hints";
import { renderJson } from "../output";
import { expectShape, printItem } from "../print";
import { loginWithBrowser, loginWithDevice, revokeStoredLogin, storeTokens } from "../token-session";

export interface LoginFlags {
  apiKey?: string;
  url?: string;
  device?: boolean;
  browser: boolean;
}

const meSchema = z.looseObject({ name: z.string(), role: z.string() });

/** The URL for `sluice login`: the flag, else SLUICE_URL, else the stored one, else the default. */
export function loginUrl(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  stored?: string,
): string {
  return normalizeUrl(flag || env.SLUICE_URL || stored || DEFAULT_CONTROL_PLANE_URL);
}

async function loginKey(ctx: CliContext, flag: string): Promise<string> {
  if (flag !== "-") {
    const key = flag.trim();
    if (!key) throw usageError("--api-key must not be empty (use `--api-key -` to read it from stdin)");
    return key;
  }
  if (ctx.io.stdinIsTTY) ctx.io.stderr("paste the API key, then press Enter and Ctrl-D:\n");
  return readKeyFromStdin(ctx.io.stdin);
}

export function registerLoginCommands(program: Command, ctx: CliContext): void {
  program
    .command("login")
    .description(
      "log in through your identity provider (browser, or --device), or verify an API key, and store the credentials",
    )
    .option("--api-key <key>", "API key, or - to read it from stdin (keeps it out of shell history)")
    .option("--device", "use the device flow (for machines without a browser)")
    .option("--no-browser", "do not open a browser; print the login URL only")
    .option(
      "--url <url>",
      `control-plane URL (default: SLUICE_URL, the stored URL, or ${DEFAULT_CONTROL_PLANE_URL})`,
    )
    .action(async (flags: LoginFlags, cmd: Command) => {
      const stored = await readStoredConfig(ctx.io.env).catch(() => undefined);
      const url = loginUrl(flags.url, ctx.io.env, stored?.url);
      let file: string;
      let me: unknown;
      if (flags.apiKey !== undefined) {
        const apiKey = await loginKey(ctx, flags.apiKey);
        me = await ctx.clientFor(url, apiKey).get("/me");
        expectShape(meSchema, me, "an identity");
        file = await writeStoredConfig(ctx.io.env, { url, apiKey });
      } else {
        const tokens = flags.device
          ? await loginWithDevice(url, ctx.io)
          : await loginWithBrowser(url, ctx.io, { browser: flags.browser });
        ctx.secrets.add(tokens.access_token);
        if (tokens.refresh_token) ctx.secrets.add(tokens.refresh_token);
        me = await ctx.clientFor(url, tokens.access_token).get("/me");
        expectShape(meSchema, me, "an identity");
        file = await storeTokens(ctx.io.env, url, tokens);
      }
      const identity = expectShape(meSchema, me, "an identity");
      if (outputFormat(cmd) === "json") {
        ctx.io.stdout(renderJson(me));
        return;
      }
      ctx.io.stdout(`logged in to ${url} as ${identity.name} (${identity.role})\n`);
      ctx.io.stderr(`credentials saved to ${file}\n`);
    });

  program
    .command("logout")
    .description("revoke the stored login (if any) and remove the stored credentials")
    .action(async () => {
      const revoked = await revokeStoredLogin(ctx.io.env);
      if (revoked) ctx.io.stderr("login revoked at the control plane\n");
      const removed = await removeStoredConfig(ctx.io.env);
      ctx.io.stdout(removed ? `logged out (removed ${configFile(ctx.io.env)})\n` : "not logged in\n");
      if (ctx.io.env.SLUICE_API_KEY) ctx.io.stderr("note: SLUICE_API_KEY is still set in this environment\n");
    });

  program
    .command("whoami")
    .description("show the identity of the current API key")
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      printItem(ctx.io, outputFormat(cmd), await client.get("/me"));
    });
}
