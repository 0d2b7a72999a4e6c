import { createHash } from "node:crypto";
import { AppError } from "@sluice/errors";
import {
  type CommandGuard,
  compileCommandGuard,
  compileMasking,
  type Guard,
  guardrailRule,
  type MaskingPlan,
  maskingRule,
  type PolicyDocument,
  reviewRule,
} from "@sluice/policy";
import type { ConnectionSpec, PolicySpec } from "@sluice/proto";
import { z } from "zod";

/**
 * A connection's policies, compiled once per policy version and shared by its sessions.
 * Protocol-neutral: each protocol takes the view it enforces (a SQL guard in its dialect,
 * command rules, the masking plan).
 */
export interface CompiledPolicy {
  documents: PolicyDocument[];
  masking: MaskingPlan | undefined;
  commands: CommandGuard;
  /** The SQL guard of one dialect, compiled on first use and kept with the policy. */
  sqlGuard(dialect: string, build: (documents: PolicyDocument[]) => Guard): Guard;
}

/** Refuses to serve: the connection's policy cannot be enforced. */
export function unenforceable(detail: string): AppError {
  return new AppError(
    "policy.unenforceable",
    `Sluice cannot enforce this connection's policy (${detail}); sessions are refused`,
  );
}

function parseRules<T extends z.ZodType>(
  schema: T,
  json: string,
  what: string,
  policy: string,
): z.infer<T>[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json || "[]");
  } catch {
    throw unenforceable(`policy ${policy} has unreadable ${what}`);
  }
  const parsed = z.array(schema).safeParse(raw);
  if (!parsed.success) throw unenforceable(`policy ${policy} has invalid ${what}`);
  return parsed.data;
}

/**
 * Compiles the policies attached to connections. Fails closed: a policy the connection
 * names but the agent does not hold, or one it cannot read (bad JSON, a rule the schema
 * refuses, a pattern that does not compile), refuses the session, for every protocol.
 */
export function createPolicyCompiler(opts: { hashKey: Buffer }) {
  const cache = new Map<string, CompiledPolicy>();

  function key(conn: Pick<ConnectionSpec, "policyIds">, policies: Map<string, PolicySpec>): string {
    const h = createHash("sha256");
    for (const id of conn.policyIds) {
      const p = policies.get(id);
      h.update(`${id}\0${p ? `${p.guardrailsJson}\0${p.maskingJson}\0${p.reviewRulesJson}` : "missing"}\0`);
    }
    return h.digest("base64");
  }

  function compile(
    conn: Pick<ConnectionSpec, "policyIds">,
    policies: Map<string, PolicySpec>,
  ): CompiledPolicy {
    const documents: PolicyDocument[] = conn.policyIds.map((id) => {
      const p = policies.get(id);
      if (!p) throw unenforceable(`policy ${id} is not known to this agent yet`);
      return {
        id: p.id,
        name: p.name,
        guardrails: parseRules(guardrailRule, p.guardrailsJson, "guardrails", p.name),
        masking: parseRules(maskingRule, p.maskingJson, "masking rules", p.name),
        reviewRules: parseRules(reviewRule, p.reviewRulesJson, "review rules", p.name),
      };
    });
    const maskRules = documents.flatMap((d) => d.masking);
    let masking: MaskingPlan | undefined;
    if (maskRules.length > 0) {
      try {
        masking = compileMasking(maskRules, { hashKey: opts.hashKey });
      } catch (err) {
        throw unenforceable(`masking rules: ${(err as Error).message}`);
      }
    }
    const guards = new Map<string, Guard>();
    return {
      documents,
      masking,
      commands: compileCommandGuard(documents),
      sqlGuard(dialect, build) {
        let guard = guards.get(dialect);
        if (!guard) {
          guard = build(documents);
          guards.set(dialect, guard);
        }
        return guard;
      },
    };
  }

  return {
    /** The compiled policy of a connection, or undefined when it has no policies. */
    forConnection(
      conn: Pick<ConnectionSpec, "policyIds">,
      policies: Map<string, PolicySpec>,
    ): CompiledPolicy | undefined {
      if (conn.policyIds.length === 0) return undefined;
      const k = key(conn, policies);
      let compiled = cache.get(k);
      if (!compiled) {
        compiled = compile(conn, policies);
        if (cache.size >= 256) cache.delete(cache.keys().next().value as string);
        cache.set(k, compiled);
      }
      return compiled;
    },
  };
}

export type PolicyCompiler = ReturnType<typeof createPolicyCompiler>;

export function statementHash(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}
