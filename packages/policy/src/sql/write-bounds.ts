/**
 * When an UPDATE, DELETE or MERGE is bounded. A condition bounds the target when it
 * references a column that can be the target's: unqualified, or qualified by the target's
 * name or alias (or `WHERE CURRENT OF`). `WHERE true`, `WHERE 1 = 1`, `WHERE src.flag` in a
 * `USING` join and `ON s.id = 5` in a MERGE do not.
 */

type Node = Record<string, unknown>;

function str(v: unknown): string | undefined {
  const s = (v as { String?: { sval?: string } } | undefined)?.String?.sval;
  return typeof s === "string" ? s.toLowerCase() : undefined;
}

/** The names a statement's target relation can be referenced by. */
export function targetNames(relation: unknown): Set<string> {
  const rv = (relation ?? {}) as { relname?: string; schemaname?: string; alias?: { aliasname?: string } };
  const names = new Set<string>();
  if (rv.alias?.aliasname) names.add(rv.alias.aliasname.toLowerCase());
  else if (rv.relname) names.add(rv.relname.toLowerCase());
  return names;
}

/** True when `expr` references a column that can belong to the target. */
export function boundsTarget(expr: unknown, target: Set<string>, depth = 0): boolean {
  if (depth > 200 || expr === null || typeof expr !== "object") return false;
  if (Array.isArray(expr)) return expr.some((e) => boundsTarget(e, target, depth + 1));
  for (const [key, child] of Object.entries(expr as Node)) {
    if (key === "CurrentOfExpr") return true;
    if (key === "ColumnRef") {
      const fields = (child as { fields?: unknown[] }).fields ?? [];
      if (fields.length === 1 && str(fields[0]) !== undefined) return true;
      const qualifier = str(fields[fields.length - 2]);
      if (qualifier !== undefined && target.has(qualifier)) return true;
      continue;
    }
    if (boundsTarget(child, target, depth + 1)) return true;
  }
  return false;
}

/** An UPDATE or DELETE without a WHERE that bounds its target. */
export function unboundedUpdateOrDelete(node: Node): boolean {
  return !node.whereClause || !boundsTarget(node.whereClause, targetNames(node.relation));
}

interface WhenClause {
  matchKind?: string;
  commandType?: string;
  condition?: unknown;
}

/**
 * A MERGE is unbounded when a WHEN MATCHED … UPDATE/DELETE clause is bounded neither by its
 * own AND condition nor by the ON condition, or a WHEN NOT MATCHED BY SOURCE …
 * UPDATE/DELETE clause has no AND condition bounding the target (those rows matched nothing).
 */
export function unboundedMerge(node: Node): boolean {
  const target = targetNames(node.relation);
  const onBounds = boundsTarget(node.joinCondition, target);
  for (const raw of (node.mergeWhenClauses as unknown[]) ?? []) {
    const c = ((raw as { MergeWhenClause?: WhenClause }).MergeWhenClause ?? {}) as WhenClause;
    if (c.commandType !== "CMD_UPDATE" && c.commandType !== "CMD_DELETE") continue;
    const own = c.condition !== undefined && boundsTarget(c.condition, target);
    if (own) continue;
    if (c.matchKind === "MERGE_WHEN_NOT_MATCHED_BY_SOURCE" || !onBounds) return true;
  }
  return false;
}

/** `UPDATE` / `DELETE` / `INSERT` for each WHEN clause of a MERGE. */
export function mergeActions(node: Node): string[] {
  const out: string[] = [];
  for (const raw of (node.mergeWhenClauses as unknown[]) ?? []) {
    const t = (raw as { MergeWhenClause?: WhenClause }).MergeWhenClause?.commandType;
    if (t === "CMD_UPDATE") out.push("UPDATE");
    else if (t === "CMD_DELETE") out.push("DELETE");
    else if (t === "CMD_INSERT") out.push("INSERT");
  }
  return out;
}
