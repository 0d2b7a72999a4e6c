import {
  type CatalogNames,
  compileConnectionGuard,
  type MaskingPlan,
  MaskTally,
  type PolicyDocument,
} from "@sluice/policy";
import type { SessionContext } from "../../core/broker";
import type { PolicyEvent } from "../../core/policy-types";
import type { SessionPolicy } from "./policy-gate";

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

/**
 * The Postgres session's view of its connection's policy: the SQL guard in the Postgres
 * dialect (plus the masked-COPY refusal) and masking with this session's catalog names.
 * Undefined when the policy holds nothing a Postgres session enforces.
 */
export function pgSessionPolicy(
  ctx: Pick<SessionContext, "policy" | "requestReview" | "recordPolicy">,
): (SessionPolicy & { prepare(query: CatalogQuery): Promise<void> }) | undefined {
  const compiled = ctx.policy;
  if (!compiled) return undefined;
  const plan = compiled.masking;
  // The same guard as the control plane's dry run (`policies test`): one verdict per statement.
  const guard = compiled.sqlGuard("postgres", (docs) => compileConnectionGuard(docs));
  if (!guard.active && !plan) return undefined;
  let names: CatalogNames | undefined;
  const totals = new MaskTally();
  const record = (ev: PolicyEvent) => ctx.recordPolicy(ev);
  return {
    guard,
    ...(plan
      ? {
          maskerFor: (columns) => {
            if (!names) throw new Error("masking used before the catalog was resolved");
            return plan.forColumns(columns, names, totals);
          },
          textMasker: plan.textMasker(totals),
        }
      : {}),
    async prepare(query) {
      if (plan) names = await resolveCatalog(plan, query);
    },
    end() {
      const counts = totals.counts() as Record<string, number>;
      if (Object.keys(counts).length > 0) record({ decision: "masked", counts, statement: "" });
    },
    requestReview: ctx.requestReview,
    record,
  };
}
