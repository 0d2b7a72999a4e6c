import type { Command } from "commander";
import type { CliContext } from "../../context";
import { mergeBody, readArrayFile, readBodyFile, requireChanges, requireFields } from "../../flags";
import { policies } from "../../resources";
import { addReadDeleteCommands, createAndPrint, updateAndPrint } from "./crud";

export interface PolicyFlags {
  name?: string;
  description?: string;
  guardrails?: string;
  masking?: string;
  reviewRules?: string;
  fromFile?: string;
}

export interface PolicyRules {
  guardrails?: unknown[];
  masking?: unknown[];
  reviewRules?: unknown[];
}

/** Reads the rule-array files named by `--guardrails`, `--masking` and `--review-rules`. */
export async function readPolicyRules(flags: PolicyFlags): Promise<PolicyRules> {
  return {
    guardrails: await readArrayFile(flags.guardrails, "--guardrails"),
    masking: await readArrayFile(flags.masking, "--masking"),
    reviewRules: await readArrayFile(flags.reviewRules, "--review-rules"),
  };
}

export function policyCreateBody(
  name: string | undefined,
  flags: PolicyFlags,
  rules: PolicyRules,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { name, description: flags.description, ...rules });
  requireFields(body, { name: "<name>" });
  return body;
}

export function policyUpdateBody(
  flags: PolicyFlags,
  rules: PolicyRules,
  base: Record<string, unknown> = {},
): Record<string, unknown> {
  const body = mergeBody(base, { name: flags.name, description: flags.description, ...rules });
  requireChanges(body);
  return body;
}

function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option("--description <text>", "free-text description")
    .option("--guardrails <file>", "JSON file with the guardrail rule array")
    .option("--masking <file>", "JSON file with the masking rule array")
    .option("--review-rules <file>", "JSON file with the review rule array")
    .option(
      "-f, --from-file <file>",
      "JSON file with the whole policy ({ name, description, guardrails, masking, reviewRules }); flags override",
    );
}

export function registerPolicyCommands(admin: Command, ctx: CliContext): void {
  const cmd = admin.command("policies").description("manage policies (guardrails, masking, review rules)");
  addReadDeleteCommands(cmd, ctx, policies);

  addPolicyOptions(
    cmd.command("create").description("create a policy").argument("[name]", "policy name"),
  ).action(async (name: string | undefined, flags: PolicyFlags, command: Command) => {
    const body = policyCreateBody(
      name,
      flags,
      await readPolicyRules(flags),
      await readBodyFile(flags.fromFile),
    );
    await createAndPrint(ctx, command, policies, body);
  });

  addPolicyOptions(
    cmd
      .command("update")
      .description("change a policy (a rule file replaces that whole rule list)")
      .argument("<id>", "policy id or name")
      .option("--name <name>", "new name"),
  ).action(async (id: string, flags: PolicyFlags, command: Command) => {
    const body = policyUpdateBody(flags, await readPolicyRules(flags), await readBodyFile(flags.fromFile));
    await updateAndPrint(ctx, command, policies, id, body);
  });
}
