import type { ConnectionSpec, PolicySpec } from "@sluice/proto";

/** The SSH settings the control plane puts in a connection's `optionsJson`. */
export interface SshOptions {
  hostKey?: string;
  trustOnFirstUse: boolean;
  allowPortForwarding: boolean;
}

export function sshOptions(conn: Pick<ConnectionSpec, "optionsJson">): SshOptions {
  let ssh: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(conn.optionsJson || "{}") as { ssh?: Record<string, unknown> };
    if (parsed.ssh && typeof parsed.ssh === "object") ssh = parsed.ssh;
  } catch {
    // Unreadable options: the strictest settings apply.
  }
  return {
    ...(typeof ssh.hostKey === "string" && ssh.hostKey ? { hostKey: ssh.hostKey } : {}),
    trustOnFirstUse: ssh.trustOnFirstUse === true,
    allowPortForwarding: ssh.allowPortForwarding === true,
  };
}

export interface CommandRule {
  name: string;
  action: string;
  commands: RegExp[];
}

/** Guardrail rules with `commands` regexes from the connection's policies, in policy order. */
export function commandRules(
  conn: Pick<ConnectionSpec, "policyIds">,
  policies: Map<string, PolicySpec>,
): CommandRule[] {
  const rules: CommandRule[] = [];
  for (const id of conn.policyIds) {
    const policy = policies.get(id);
    if (!policy) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(policy.guardrailsJson || "[]");
    } catch {
      continue;
    }
    if (!Array.isArray(parsed)) continue;
    for (const r of parsed as { name?: unknown; action?: unknown; commands?: unknown }[]) {
      if (!Array.isArray(r.commands) || r.commands.length === 0) continue;
      const commands: RegExp[] = [];
      for (const c of r.commands) {
        try {
          if (typeof c === "string") commands.push(new RegExp(c, "i"));
        } catch {
          // The control plane validates patterns; an unreadable one matches nothing.
        }
      }
      rules.push({ name: String(r.name ?? "unnamed"), action: String(r.action ?? "deny"), commands });
    }
  }
  return rules;
}

export function matchRule(rules: CommandRule[], text: string): CommandRule | undefined {
  return rules.find((r) => r.commands.some((re) => re.test(text)));
}

/** `scp -t path` (upload to the target) or `scp -f path` (download). */
export function parseScp(command: string): { direction: "upload" | "download"; path: string } | undefined {
  const parts = command.trim().split(/\s+/);
  if (parts[0] !== "scp" && !parts[0]?.endsWith("/scp")) return undefined;
  let direction: "upload" | "download" | undefined;
  const rest: string[] = [];
  for (const p of parts.slice(1)) {
    if (p === "--") continue;
    if (p.startsWith("-")) {
      if (p.includes("t")) direction = "upload";
      if (p.includes("f")) direction = "download";
    } else rest.push(p);
  }
  return direction ? { direction, path: rest.join(" ") } : undefined;
}
