import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { usageError } from "../cli-error";
import { type CliContext, outputFormat } from "../context";
import { readTextFile } from "../flags";
import { col, renderJson, renderTable } from "../output";
import { expectObject } from "../print";

interface TestFlags {
  command?: string;
  file?: string;
  value?: string[];
  dialect?: string;
  serverVersion?: string;
  sqlMode?: string;
}

interface Evaluation {
  policy: string;
  verdict: "allow" | "deny" | "review";
  rule?: string;
  reviewRule?: string;
  message?: string;
  statement?: string;
  parseError?: string;
  statements: { text: string; kind: string; objects: string[]; readOnly: boolean }[];
  masked: { column: string; value: string; masked: string | null }[];
}

/** `column=value` or `table.column:type=value`. */
export function parseSampleValue(spec: string): {
  column: string;
  table?: string;
  type?: string;
  value: string;
} {
  const eq = spec.indexOf("=");
  if (eq <= 0)
    throw usageError(`--value ${JSON.stringify(spec)}: use column=value or table.column:type=value`);
  const target = spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  const [qualified = "", type] = target.split(":", 2);
  const dot = qualified.lastIndexOf(".");
  const column = dot < 0 ? qualified : qualified.slice(dot + 1);
  if (!column) throw usageError(`--value ${JSON.stringify(spec)}: the column name is missing`);
  return { column, value, ...(dot > 0 ? { table: qualified.slice(0, dot) } : {}), ...(type ? { type } : {}) };
}

const VERDICT_WORDS = { allow: "allowed", deny: "denied", review: "held for review" } as const;

export function renderEvaluation(e: Evaluation): string {
  const lines = [`${VERDICT_WORDS[e.verdict]} by policy ${e.policy}${e.rule ? ` (rule ${e.rule})` : ""}`];
  if (e.message) lines.push(`  ${e.message}`);
  if (e.reviewRule) lines.push(`  reviewers: review rule ${e.reviewRule}`);
  if (e.statement && e.verdict !== "allow") lines.push(`  statement: ${e.statement}`);
  if (e.parseError) lines.push(`  parse error: ${e.parseError}`);
  let out = `${lines.join("\n")}\n`;
  if (e.statements.length > 0) {
    out += `\n${renderTable(
      e.statements.map((s) => ({
        kind: s.kind,
        objects: s.objects.join(", "),
        readOnly: s.readOnly ? "yes" : "no",
        text: s.text.length > 60 ? `${s.text.slice(0, 59)}…` : s.text,
      })),
      [
        col("KIND", "kind"),
        col("OBJECTS", "objects"),
        col("READ-ONLY", "readOnly"),
        col("STATEMENT", "text"),
      ],
    )}`;
  }
  if (e.masked.length > 0) {
    out += `\n${renderTable(
      e.masked.map((m) => ({ column: m.column, value: m.value, masked: m.masked ?? "NULL" })),
      [col("COLUMN", "column"), col("VALUE", "value"), col("MASKED", "masked")],
    )}`;
  }
  return out;
}

export function registerPoliciesCommands(program: Command, ctx: CliContext): void {
  const group = program.command("policies").description("try policies out");
  group
    .command("test")
    .description("show what a policy would do with a statement (and sample values), without running it")
    .argument("<policy>", "policy name or id")
    .option("-c, --command <sql>", "the SQL to check")
    .option("-f, --file <file>", "read the SQL from a file")
    .option("--dialect <dialect>", "how the SQL is read: postgres (default) or mysql")
    .option("--server-version <version>", "mysql: the server's version, e.g. 10.11.19-MariaDB or 8.0.36")
    .option("--sql-mode <mode>", "mysql: the session's sql_mode (the agent reads it from the server)")
    .option(
      "--value <column=value>",
      "a sample value to mask, e.g. email=ann@example.com or users.card:text=4111111111111111 (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (policy: string, flags: TestFlags, cmd: Command) => {
      if (flags.command !== undefined && flags.file !== undefined)
        throw usageError("pass either -c or -f, not both");
      const sql = flags.command ?? (await readTextFile(flags.file, "--file")) ?? "";
      const values = (flags.value ?? []).map(parseSampleValue);
      if (!sql.trim() && values.length === 0)
        throw usageError("nothing to test: pass -c <sql>, -f <file> or --value");
      const client = await ctx.client();
      const result = expectObject(
        await client.post(`${apiPath("policies", policy)}/evaluate`, {
          sql,
          values,
          ...(flags.dialect ? { dialect: flags.dialect } : {}),
          ...(flags.serverVersion ? { serverVersion: flags.serverVersion } : {}),
          ...(flags.sqlMode !== undefined ? { sqlMode: flags.sqlMode } : {}),
        }),
      ) as unknown as Evaluation;
      ctx.io.stdout(outputFormat(cmd) === "json" ? renderJson(result) : renderEvaluation(result));
    });
}
