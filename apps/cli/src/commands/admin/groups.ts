import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { type CliContext, outputFormat } from "../../context";
import { mergeBody, readBodyFile, requireChanges, requireFields } from "../../flags";
import { printDone } from "../../print";
import { groups } from "../../resources";
import { addReadDeleteCommands, createAndPrint, FROM_FILE_HELP, updateAndPrint } from "./crud";

export interface GroupFlags {
  name?: string;
  description?: string;
  fromFile?: string;
}

export function groupCreateBody(
  name: string | undefined,
  flags: GroupFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { name, description: flags.description });
  requireFields(body, { name: "<name>" });
  return body;
}

export function groupUpdateBody(
  flags: GroupFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { name: flags.name, description: flags.description });
  requireChanges(body);
  return body;
}

export function registerGroupCommands(admin: Command, ctx: CliContext): void {
  const cmd = admin.command("groups").description("manage groups and their members");
  addReadDeleteCommands(cmd, ctx, groups);

  cmd
    .command("create")
    .description("create a group")
    .argument("[name]", "group name")
    .option("--description <text>", "free-text description")
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (name: string | undefined, flags: GroupFlags, command: Command) => {
      await createAndPrint(
        ctx,
        command,
        groups,
        groupCreateBody(name, flags, await readBodyFile(flags.fromFile)),
      );
    });

  cmd
    .command("update")
    .description("rename a group or change its description")
    .argument("<id>", "group id or name")
    .option("--name <name>", "new name")
    .option("--description <text>", "free-text description")
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (id: string, flags: GroupFlags, command: Command) => {
      await updateAndPrint(
        ctx,
        command,
        groups,
        id,
        groupUpdateBody(flags, await readBodyFile(flags.fromFile)),
      );
    });

  addMembershipCommand(cmd, ctx, "add-member", "PUT");
  addMembershipCommand(cmd, ctx, "remove-member", "DELETE");
}

function addMembershipCommand(cmd: Command, ctx: CliContext, verb: string, method: "PUT" | "DELETE"): void {
  const adding = method === "PUT";
  cmd
    .command(verb)
    .description(adding ? "add a user to a group" : "remove a user from a group")
    .argument("<group>", "group id or name")
    .argument("<user>", "user id or name")
    .action(async (group: string, user: string, _flags: unknown, command: Command) => {
      const client = await ctx.client();
      await client.request(method, apiPath("groups", group, "members", user));
      const message = adding ? `added ${user} to group ${group}` : `removed ${user} from group ${group}`;
      printDone(ctx.io, outputFormat(command), message, { group, user, member: adding });
    });
}
