import type { PolicyDocument } from "../rules";

/** A guardrail rule that applies to commands (SSH exec, shell lines, later kubectl exec). */
export interface CommandRule {
  name: string;
  policyId: string;
  policyName: string;
  action: "deny" | "review";
  message?: string;
  commands: RegExp[];
}

export type CommandVerdict =
  | { action: "allow" }
  | { action: "deny"; rule: string; policyId: string; policyName: string; message: string };

export interface CommandGuard {
  /** False when no policy has a command rule. */
  readonly active: boolean;
  readonly rules: readonly CommandRule[];
  /** The first rule, in policy order, one of whose patterns matches the command. */
  match(command: string): CommandRule | undefined;
  /**
   * The verdict for running `command`. A command a review rule would hold is refused: a
   * command channel has no way to wait for a reviewer, so it fails closed.
   */
  evaluate(command: string): CommandVerdict;
}

/** Longer commands are refused outright: a pattern cannot be trusted on text it never saw whole. */
export const MAX_COMMAND_LENGTH = 64 * 1024;

/**
 * Compiles the `commands` patterns of guardrail rules. The documents were validated by the
 * same schema the control plane uses (every pattern compiles), so nothing here can match
 * nothing by accident: an unreadable policy never reaches this point, it refuses the session.
 */
export function compileCommandGuard(documents: PolicyDocument[]): CommandGuard {
  const rules: CommandRule[] = [];
  for (const doc of documents) {
    for (const r of doc.guardrails) {
      if (!r.commands?.length || r.action === "allow") continue;
      rules.push({
        name: r.name,
        policyId: doc.id,
        policyName: doc.name,
        action: r.action,
        ...(r.message ? { message: r.message } : {}),
        commands: r.commands.map((c) => new RegExp(c, "i")),
      });
    }
  }
  const match = (command: string) => rules.find((r) => r.commands.some((re) => re.test(command)));
  return {
    active: rules.length > 0,
    rules,
    match,
    evaluate(command) {
      if (rules.length === 0) return { action: "allow" };
      if (command.length > MAX_COMMAND_LENGTH) {
        return {
          action: "deny",
          rule: "sluice.command_too_long",
          policyId: "",
          policyName: "",
          message: `commands longer than ${MAX_COMMAND_LENGTH} characters are refused on this connection`,
        };
      }
      const rule = match(command);
      if (!rule) return { action: "allow" };
      return {
        action: "deny",
        rule: rule.name,
        policyId: rule.policyId,
        policyName: rule.policyName,
        message: rule.message ?? `command blocked by policy rule ${rule.name}`,
      };
    },
  };
}
