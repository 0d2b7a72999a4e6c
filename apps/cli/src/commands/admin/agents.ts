import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { z } from "zod";
import { type CliContext, outputFormat } from "../../context";
import { collectLabel, mergeBody, readBodyFile, requireChanges, requireFields } from "../../flags";
import { enrollmentTokenNotice } from "../../hints";
import { renderJson } from "../../output";
import { expectObject, expectShape, label, printDone } from "../../print";
import { agents } from "../../resources";
import { addReadDeleteCommands, FROM_FILE_HELP, updateAndPrint } from "./crud";

export interface AgentFlags {
  segment?: string;
  label?: Record<string, string>;
  fromFile?: string;
}

const withTokenSchema = z.object({
  agent: z.record(z.string(), z.unknown()),
  enrollmentToken: z.string().min(1),
});

export function agentCreateBody(
  name: string | undefined,
  flags: AgentFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { name, segment: flags.segment, labels: flags.label });
  requireFields(body, { name: "<name>" });
  return body;
}

export function agentUpdateBody(
  flags: AgentFlags,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { segment: flags.segment, labels: flags.label });
  requireChanges(body);
  return body;
}

export function registerAgentCommands(admin: Command, ctx: CliContext): void {
  const cmd = admin.command("agents").description("manage agents (one or more per network segment)");
  addReadDeleteCommands(cmd, ctx, agents);

  cmd
    .command("create")
    .description("register an agent and print its one-time enrollment token")
    .argument("[name]", "agent name")
    .option("--segment <segment>", "network segment the agent serves")
    .option("--label <key=value>", "agent label (repeatable)", collectLabel)
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (name: string | undefined, flags: AgentFlags, command: Command) => {
      const body = agentCreateBody(name, flags, await readBodyFile(flags.fromFile));
      const client = await ctx.client();
      printWithToken(ctx, command, await client.post(apiPath("agents"), body), "created");
    });

  cmd
    .command("update")
    .description("change an agent's segment or labels (--label replaces all labels)")
    .argument("<id>", "agent id or name")
    .option("--segment <segment>", "network segment the agent serves")
    .option("--label <key=value>", "agent label (repeatable)", collectLabel)
    .option("-f, --from-file <file>", FROM_FILE_HELP)
    .action(async (id: string, flags: AgentFlags, command: Command) => {
      const body = agentUpdateBody(flags, await readBodyFile(flags.fromFile));
      await updateAndPrint(ctx, command, agents, id, body);
    });

  cmd
    .command("revoke")
    .description("revoke an agent: it is disconnected and can no longer enroll")
    .argument("<id>", "agent id or name")
    .action(async (id: string, _flags: unknown, command: Command) => {
      const client = await ctx.client();
      const agent = await client.post(apiPath("agents", id, "revoke"));
      const format = outputFormat(command);
      printDone(ctx.io, format, `revoked agent ${label(expectObject(agent))}`, agent);
    });

  cmd
    .command("rotate-token")
    .description("issue a new one-time enrollment token for an agent")
    .argument("<id>", "agent id or name")
    .action(async (id: string, _flags: unknown, command: Command) => {
      const client = await ctx.client();
      printWithToken(
        ctx,
        command,
        await client.post(apiPath("agents", id, "rotate-token")),
        "issued a new token for",
      );
    });
}

function printWithToken(ctx: CliContext, command: Command, payload: unknown, verb: string): void {
  if (outputFormat(command) === "json") {
    ctx.io.stdout(renderJson(payload));
    return;
  }
  const { agent, enrollmentToken } = expectShape(withTokenSchema, payload, "{ agent, enrollmentToken }");
  const status = typeof agent.status === "string" ? `, status ${agent.status}` : "";
  ctx.io.stdout(
    `${verb} agent ${label(agent)}${status}\n${enrollmentTokenNotice(enrollmentToken).join("\n")}\n`,
  );
}
