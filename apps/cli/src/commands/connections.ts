import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { type CliContext, outputFormat } from "../context";
import { printList } from "../print";
import { myConnections } from "../resources";

export function registerConnectionsCommand(program: Command, ctx: CliContext): void {
  program
    .command("connections")
    .description("list the connections you may use")
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      printList(ctx.io, outputFormat(cmd), await client.get(apiPath("connections")), myConnections);
    });
}
