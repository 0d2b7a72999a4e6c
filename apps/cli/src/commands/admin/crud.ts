import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { type CliContext, outputFormat } from "../../context";
import type { OutputFormat } from "../../output";
import { expectObject, label, printDone, printItem, printList } from "../../print";
import type { ResourceSpec } from "../../resources";

export const FROM_FILE_HELP = "JSON file with the request body; flags override its fields";

/** Adds `list`, `get <id>` and `delete <id>` for a resource. */
export function addReadDeleteCommands(parent: Command, ctx: CliContext, spec: ResourceSpec): void {
  parent
    .command("list")
    .alias("ls")
    .description(`list ${spec.plural}`)
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await ctx.client();
      printList(ctx.io, outputFormat(cmd), await client.get(apiPath(spec.path)), spec);
    });

  parent
    .command("get")
    .description(`show one ${spec.singular}`)
    .argument("<id>", `${spec.singular} id or name`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const client = await ctx.client();
      printItem(ctx.io, outputFormat(cmd), await client.get(apiPath(spec.path, id)));
    });

  parent
    .command("delete")
    .alias("rm")
    .description(`delete a ${spec.singular} (no confirmation prompt)`)
    .argument("<id>", `${spec.singular} id or name`)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const client = await ctx.client();
      await client.delete(apiPath(spec.path, id));
      printDone(ctx.io, outputFormat(cmd), `deleted ${spec.singular} ${id}`, {
        deleted: { resource: spec.singular, id },
      });
    });
}

/** POSTs a body and prints the created object. */
export async function createAndPrint(
  ctx: CliContext,
  cmd: Command,
  spec: ResourceSpec,
  body: Record<string, unknown>,
): Promise<void> {
  const client = await ctx.client();
  const created = await client.post(apiPath(spec.path), body);
  printChanged(ctx, outputFormat(cmd), created, `created ${spec.singular}`);
}

/** PATCHes a body and prints the updated object. */
export async function updateAndPrint(
  ctx: CliContext,
  cmd: Command,
  spec: ResourceSpec,
  id: string,
  body: Record<string, unknown>,
): Promise<void> {
  const client = await ctx.client();
  const updated = await client.patch(apiPath(spec.path, id), body);
  printChanged(ctx, outputFormat(cmd), updated, `updated ${spec.singular}`);
}

function printChanged(ctx: CliContext, format: OutputFormat, payload: unknown, verb: string): void {
  if (format === "json") {
    printItem(ctx.io, format, payload);
    return;
  }
  const obj = expectObject(payload);
  ctx.io.stdout(`${verb} ${label(obj)}\n`);
  printItem(ctx.io, format, obj);
}
