import { createHash } from "node:crypto";
import {
  type CatalogNames,
  compileGuard,
  compileMasking,
  type Guard,
  guardrailRule,
  type MaskingPlan,
  MaskTally,
  maskingRule,
  type PolicyDocument,
  reviewRule,
} from "@sluice/policy";
import type { ConnectionSpec, PolicySpec } from "@sluice/proto";
import { z } from "zod";
import type { HeldStatement, PendingReview, PolicyEvent, ReviewOutcome, SessionPolicy } from "../postgres";
import { PgClientError } from "../postgres";

/** A connection's policies, compiled once per policy version and shared by its sessions. */
export interface CompiledPolicy {
  documents: PolicyDocument[];
  guard: Guard;
  masking: MaskingPlan | undefined;
}

/** Refuses to serve: the connection's policy cannot be enforced. */
function unenforceable(detail: string): PgClientError {
  return new PgClientError(
    "42501",
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

/** Refuses COPY … TO on masked connections: its rows are not DataRows the masker sees. */
const maskedCopyRule: PolicyDocument = {
  id: "",
  name: "sluice-masking",
  guardrails: [
    {
      name: "sluice.masked_copy",
      action: "deny",
      statementKinds: ["COPY TO"],
      message: "COPY … TO is not available on a masked connection; use SELECT, whose rows Sluice masks",
    },
  ],
  masking: [],
  reviewRules: [],
};

/**
 * Compiles the policies attached to connections. Fails closed: a policy the connection
 * names but the agent does not hold, or one it cannot read, refuses the session.
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
    const guard = compileGuard(masking ? [...documents, maskedCopyRule] : documents);
    return { documents, guard, masking };
  }

  return {
    /** The compiled policy of a connection, or undefined when none of its policies has rules. */
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
      return compiled.guard.active || compiled.masking ? compiled : undefined;
    },
  };
}

export type PolicyCompiler = ReturnType<typeof createPolicyCompiler>;

/** Runs one catalog query on the upstream before the session starts; rows as text. */
export type CatalogQuery = (sql: string) => Promise<(string | null)[][]>;

function literalArray(values: string[]): string {
  const quoted = values.map((v) => `'${v.replace(/'/g, "''")}'`);
  return `ARRAY[${quoted.join(",")}]::text[]`;
}

/**
 * Names the tables and non-built-in types of the target's catalog for the masker:
 * RowDescription carries OIDs, masking rules carry names. Every relation is named, since
 * a table the masker cannot name makes every table-filtered rule apply to it.
 */
export async function resolveCatalog(plan: MaskingPlan, query: CatalogQuery): Promise<CatalogNames> {
  const tables = new Map<number, string>();
  const types = new Map<number, string>();
  if (plan.tables.length > 0) {
    const rows = await query(
      "SELECT c.oid::text, n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') LIMIT 200000",
    );
    for (const [oid, schema, rel] of rows) {
      if (oid && schema && rel) tables.set(Number(oid), `${schema.toLowerCase()}.${rel.toLowerCase()}`);
    }
  }
  const typeNames = plan.types.map((t) => t.toLowerCase());
  if (typeNames.length > 0) {
    const rows = await query(
      `SELECT t.oid::text, t.typname FROM pg_catalog.pg_type t WHERE lower(t.typname) = ANY(${literalArray(typeNames)})`,
    );
    for (const [oid, name] of rows) if (oid && name) types.set(Number(oid), name.toLowerCase());
  }
  return { table: (oid) => tables.get(oid), type: (oid) => types.get(oid) };
}

export interface SessionPolicyDeps {
  compiled: CompiledPolicy;
  sessionId: string;
  requestReview(
    sessionId: string,
    held: HeldStatement,
    onPending: (p: PendingReview) => void,
    signal: AbortSignal,
  ): Promise<ReviewOutcome>;
  record(ev: PolicyEvent & { statementHash: string }): void;
}

export function statementHash(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}

/** The per-session view of a compiled policy: masking needs this session's catalog names. */
export function sessionPolicy(deps: SessionPolicyDeps): SessionPolicy & {
  prepare(query: CatalogQuery): Promise<void>;
} {
  const { compiled } = deps;
  let names: CatalogNames | undefined;
  const plan = compiled.masking;
  const totals = new MaskTally();
  const record = (ev: PolicyEvent) => deps.record({ ...ev, statementHash: statementHash(ev.statement) });
  return {
    guard: compiled.guard,
    ...(plan
      ? {
          maskerFor: (columns) => {
            if (!names) throw new Error("masking used before the catalog was resolved");
            return plan.forColumns(columns, names, totals);
          },
        }
      : {}),
    async prepare(query) {
      if (plan) names = await resolveCatalog(plan, query);
    },
    end() {
      const counts = totals.counts() as Record<string, number>;
      if (Object.keys(counts).length > 0) record({ decision: "masked", counts, statement: "" });
    },
    requestReview: (held, onPending, signal) => deps.requestReview(deps.sessionId, held, onPending, signal),
    record,
  };
}
