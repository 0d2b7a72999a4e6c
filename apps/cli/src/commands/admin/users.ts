import { apiPath } from "@sluice/client";
import { type Command, Option } from "commander";
import { z } from "zod";
import { usageError } from "../../cli-error";
import { type CliContext, outputFormat } from "../../context";
import { collectList, intParser, mergeBody, readBodyFile, requireChanges, requireFields } from "../../flags";
import { apiKeyNotice } from "../../hints";
import { formatValue, renderJson } from "../../output";
import { expectShape, printDone, printList } from "../../print";
import { apiKeys, users } from "../../resources";
import { addReadDeleteCommands, createAndPrint, FROM_FILE_HELP, updateAndPrint } from "./crud";

export const roles = ["admin", "auditor", "user"] as const;
export const kinds = ["human", "service"] as const;

export interface UserFlags {
  name?: string;
  email?: string;
  role?: string;
  kind?: string;
  group?: string[];
  disable?: boolean;
  enable?: boolean;
  fromFile?: string;
}

export interface ApiKeyFlags {
  name: string;
  expiresInDays?: number;
  scope?: string[];
}

const createdKeySchema = z.object({
  key: z.record(z.string(), z.unknown()),
  secret: z.string().min(1),
});

export function userCreateBody(
  name: string | undefined,
  flags: UserFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, {
    name,
    email: flags.email,
    role: flags.role,
    kind: flags.kind,
    groups: flags.group,
  });
  requireFields(body, { name: "<name>" });
  return body;
}

export function userUpdateBody(
  flags: UserFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  if (flags.disable && flags.enable) throw usageError("pass either --disable or --enable, not both");
  const disabled = flags.disable ? true : flags.enable ? false : undefined;
  const body = mergeBody(base, { name: flags.name, email: flags.email, role: flags.role, disabled });
  requireChanges(body);
  return body;
}

export function apiKeyBody(flags: ApiKeyFlags): Record<string, unknown> {
  return mergeBody({}, { name: flags.name, expiresInDays: flags.expiresInDays, scopes: flags.scope });
}

const roleOption = () => new Option("--role <role>", "role (the server defaults to user)").choices(roles);

export function registerUserCommands(admin: Command, ctx: CliContext): void {
  const cmd = admin.command("users").description("manage users, service identities and their API keys");
  addReadDeleteCommands(cmd, ctx, users);

  cmd
    .command("create")
    .description("create a user or service identity")
    .argument("[name]", "user name")
    .option("--email <email>", "email address")
    .addOption(roleOption())
    .addOption(new Option("--kind <kind>", "human or service identity").choices(kinds))
    .option("--group <group>", "group membership (repeatable)", collectList)
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (name: string | undefined, flags: UserFlags, command: Command) => {
      const body = userCreateBody(name, flags, await readBodyFile(flags.fromFile));
      await createAndPrint(ctx, command, users, body);
    });

  cmd
    .command("update")
    .description("change a user's name, email, role or disabled state")
    .argument("<id>", "user id or name")
    .option("--name <name>", "new name")
    .option("--email <email>", "email address")
    .addOption(roleOption())
    .option("--disable", "disable the user (API keys and sessions stop working)")
    .option("--enable", "enable a disabled user")
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (id: string, flags: UserFlags, command: Command) => {
      const body = userUpdateBody(flags, await readBodyFile(flags.fromFile));
      await updateAndPrint(ctx, command, users, id, body);
    });

  registerApiKeyCommands(cmd, ctx);
}

function registerApiKeyCommands(cmd: Command, ctx: CliContext): void {
  cmd
    .command("create-key")
    .description("create an API key for a user and print it once")
    .argument("<user>", "user id or name")
    .requiredOption("--name <name>", "key name, e.g. ci")
    .option("--expires-in-days <days>", "days until the key expires", intParser(1, 3650))
    .option(
      "--scope <scope>",
      "limit the key: read (GET only), sessions (connect, and what connecting needs) or mcp:<tool> (only that MCP tool); repeatable",
      collectList,
    )
    .action(async (user: string, flags: ApiKeyFlags, command: Command) => {
      const client = await ctx.client();
      const payload = await client.post(apiPath("users", user, "api-keys"), apiKeyBody(flags));
      if (outputFormat(command) === "json") {
        ctx.io.stdout(renderJson(payload));
        return;
      }
      const { key, secret } = expectShape(createdKeySchema, payload, "{ key, secret }");
      const expires = key.expiresAt ? `, expires ${formatValue(key.expiresAt)}` : ", never expires";
      const head = `created API key ${formatValue(key.name)} (${formatValue(key.id)}) for ${user}${expires}`;
      ctx.io.stdout(`${head}\n${apiKeyNotice(secret).join("\n")}\n`);
    });

  cmd
    .command("keys")
    .description("list a user's API keys (never the secrets)")
    .argument("<user>", "user id or name")
    .action(async (user: string, _flags: unknown, command: Command) => {
      const client = await ctx.client();
      printList(ctx.io, outputFormat(command), await client.get(apiPath("users", user, "api-keys")), apiKeys);
    });

  cmd
    .command("revoke-key")
    .description("revoke one of a user's API keys")
    .argument("<user>", "user id or name")
    .argument("<keyId>", "API key id")
    .action(async (user: string, keyId: string, _flags: unknown, command: Command) => {
      const client = await ctx.client();
      await client.delete(apiPath("users", user, "api-keys", keyId));
      printDone(ctx.io, outputFormat(command), `revoked API key ${keyId} of ${user}`, {
        revoked: { resource: "API key", user, id: keyId },
      });
    });
}
