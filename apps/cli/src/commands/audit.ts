import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { CliError } from "../cli-error";
import { type CliContext, outputFormat } from "../context";
import { col } from "../output";
import { printList } from "../print";

const auditEvents = {
  path: "audit",
  singular: "audit event",
  plural: "audit events",
  columns: [
    col("SEQ", "seq"),
    col("AT", "at"),
    col("ACTOR", "actorId"),
    col("ACTION", "action"),
    col("TARGET", "targetId"),
    col("OUTCOME", "outcome"),
    col("FROM", "clientAddress"),
  ],
};

interface VerifyResult {
  ok: boolean;
  entries: number;
  head: string | null;
  problem: { seq: number; reason: string } | null;
}

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program
    .command("audit")
    .description("read and verify the tamper-evident audit log (admin, auditor)");
  audit
    .command("list")
    .description("newest entries first")
    .option("--action <action>", "exact action, or a prefix ending in * (e.g. session.*)")
    .option("--actor <id>", "actor id")
    .option("--outcome <outcome>", "success | denied | failure")
    .option("--limit <n>", "entries to show", "50")
    .action(
      async (flags: { action?: string; actor?: string; outcome?: string; limit: string }, cmd: Command) => {
        const client = await ctx.client();
        const q = new URLSearchParams({ limit: flags.limit });
        if (flags.action) q.set("action", flags.action);
        if (flags.actor) q.set("actor", flags.actor);
        if (flags.outcome) q.set("outcome", flags.outcome);
        printList(ctx.io, outputFormat(cmd), await client.get(`${apiPath("audit")}?${q}`), auditEvents);
      },
    );
  audit
    .command("verify")
    .description("recompute the hash chain; exit 1 if any entry was edited or deleted")
    .option("--expect-head <seq:hash>", "a head printed by an earlier verify, to detect a truncated tail")
    .action(async (flags: { expectHead?: string }, cmd: Command) => {
      const client = await ctx.client();
      const q = flags.expectHead ? `?${new URLSearchParams({ expectHead: flags.expectHead })}` : "";
      const res = (await client.get(`${apiPath("audit", "verify")}${q}`)) as VerifyResult;
      if (outputFormat(cmd) === "json") ctx.io.stdout(`${JSON.stringify(res, null, 2)}\n`);
      if (!res.ok) {
        throw new CliError(
          `audit log verification FAILED at entry ${res.problem?.seq}: ${res.problem?.reason} (${res.entries} entries verified before it)`,
        );
      }
      if (outputFormat(cmd) !== "json")
        ctx.io.stdout(`audit log OK: ${res.entries} entries, head ${res.head ?? "(empty)"}\n`);
    });
}
