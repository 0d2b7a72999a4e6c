import type { Walk } from "./walk";

/**
 * Where a statement's column references sit, for the masked-lineage check (see
 * masked-lineage.ts). The masker sees a value only as a result column with a name and a
 * table: a reference it can still mask is a bare column in the top-level select list; every
 * other reference (inside an expression, a subquery, a CTE, a predicate, a DO body or the SQL
 * text of query_to_xml) can carry or probe a value the masker never sees under its own name.
 */

/** A bare column reference in the top-level select list. */
export interface ResultRef {
  /** As written, lower case: `email`, `u.email`, `*`, `u.*`, or `u` (which may be a whole row). */
  ref: string;
  /** The result column's name: the alias, else the column's own name. */
  output: string;
  /** 1-based position in the select list (what `ORDER BY 1` means). */
  position: number;
}

export interface Lineage {
  results: ResultRef[];
  /** References outside the top-level select list and outside predicates, as written. */
  expressions: string[];
  /** References that filter, join, group or order rows (`*` for NATURAL joins). */
  predicates: string[];
  /** Relations, range aliases and CTE names: a single-name reference to one is a whole row. */
  ranges: string[];
  /** Relations renamed by a column alias list (`*` for a join). */
  renamed: string[];
  /** Select-list positions the top level orders, groups or de-duplicates by (`ORDER BY 1`). */
  orderedPositions: number[];
  /** Top-level plain DISTINCT: compares every result column. */
  distinct: boolean;
}

type Node = Record<string, unknown>;

function refName(val: unknown): string | undefined {
  const fields = (val as { ColumnRef?: { fields?: unknown[] } } | undefined)?.ColumnRef?.fields;
  if (!Array.isArray(fields) || fields.length === 0) return undefined;
  const parts: string[] = [];
  for (const f of fields) {
    const s = (f as { String?: { sval?: string } }).String?.sval;
    if (typeof s === "string") parts.push(s.toLowerCase());
    else if (f && typeof f === "object" && "A_Star" in f) parts.push("*");
    else return undefined;
  }
  return parts.join(".");
}

function lastPart(ref: string): string {
  return ref.slice(ref.lastIndexOf(".") + 1);
}

/** `ORDER BY 2`, `GROUP BY 2`, `DISTINCT ON (2)` name select-list positions. */
function ordinals(items: unknown): number[] {
  if (!Array.isArray(items)) return [];
  const out: number[] = [];
  for (const item of items) {
    const node = ((item as { SortBy?: { node?: unknown } }).SortBy?.node ?? item) as Node;
    const ival = (node?.A_Const as { ival?: { ival?: number } } | undefined)?.ival;
    if (ival) out.push(ival.ival ?? 0);
  }
  return out;
}

const RETURNING = new Set(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

function resultRefs(targets: unknown[]): ResultRef[] {
  const results: ResultRef[] = [];
  targets.forEach((t, i) => {
    const target = (t as { ResTarget?: { name?: string; val?: unknown } }).ResTarget;
    const ref = refName(target?.val);
    if (!ref) return;
    const output = typeof target?.name === "string" ? target.name.toLowerCase() : lastPart(ref);
    results.push({ ref, output, position: i + 1 });
  });
  return results;
}

function topLevel(type: string, node: Node): Pick<Lineage, "results" | "orderedPositions" | "distinct"> {
  const none = { results: [], orderedPositions: [], distinct: false };
  // a RETURNING list comes back as a result set, like a select list
  if (RETURNING.has(type) && Array.isArray(node.returningList))
    return { ...none, results: resultRefs(node.returningList) };
  // set operations compare and rename values; SELECT INTO copies them into a table
  if (type !== "SelectStmt" || (node.op && node.op !== "SETOP_NONE") || node.intoClause) return none;
  const results = resultRefs(Array.isArray(node.targetList) ? node.targetList : []);
  const distinctItems = Array.isArray(node.distinctClause) ? node.distinctClause : [];
  const plainDistinct = distinctItems.some((d) => d && typeof d === "object" && Object.keys(d).length === 0);
  return {
    results,
    orderedPositions: [
      ...ordinals(node.sortClause),
      ...ordinals(node.groupClause),
      ...ordinals(distinctItems),
    ],
    distinct: plainDistinct,
  };
}

/** Removes one occurrence of each of `taken` from `all` (a multiset difference). */
function without(all: readonly string[], taken: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const t of taken) counts.set(t, (counts.get(t) ?? 0) + 1);
  const out: string[] = [];
  for (const a of all) {
    const n = counts.get(a) ?? 0;
    if (n > 0) counts.set(a, n - 1);
    else out.push(a);
  }
  return out;
}

/** The lineage facts of one top-level statement, from its node and the finished walk. */
export function lineageOf(type: string, node: Node, w: Walk): Lineage {
  const top = topLevel(type, node);
  const rest = without(
    w.columns,
    top.results.map((r) => r.ref),
  );
  return {
    ...top,
    expressions: [...new Set(without(rest, w.predicateColumns))],
    predicates: [...new Set(w.predicateColumns)],
    ranges: [...new Set([...w.ranges, ...w.objects.map(lastPart)])],
    renamed: [...new Set(w.renamed)],
  };
}
