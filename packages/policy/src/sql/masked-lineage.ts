import type { MaskingRule, PolicyDocument } from "../rules";
import type { StatementInfo } from "./classify";
import type { Lineage } from "./lineage";
import { isReadOnlyFunction } from "./pg-functions";

/**
 * The built-in rule `sluice.masked_lineage`. The masker replaces values of result columns a
 * whole-value rule covers, by the column's NAME in the RowDescription (and its table OID for
 * `tables` filters). A value that leaves the database under another name, inside an
 * expression (`upper(email)`, `email || ''`, `row_to_json(u)`), or that only steers which rows
 * come back (`WHERE email LIKE 'a%'`) is not masked. So on a connection with such rules, a
 * column the rules cover may appear only as a bare column of the top-level select list whose
 * result name the rule still matches; anything else is refused. See the README, "Masking probes".
 */

export const MASKED_LINEAGE_RULE = "sluice.masked_lineage";

interface LineageRule {
  name: string;
  /** Column-name regexes; undefined: every column of the rule's tables. */
  columns: RegExp[] | undefined;
  tables: string[] | undefined;
  allowProbes: boolean;
}

export type LineageCheck = (s: StatementInfo) => { rule: string; message: string } | undefined;

/** Rules that replace whole values by column name or table (no detector, not by type alone). */
function lineageRules(documents: readonly PolicyDocument[]): LineageRule[] {
  const out: LineageRule[] = [];
  const all: MaskingRule[] = documents.flatMap((d) => d.masking);
  for (const r of all) {
    if (r.detector || (!r.columns?.length && !r.tables?.length)) continue;
    out.push({
      name: r.name,
      columns: r.columns?.length ? r.columns.map((c) => new RegExp(c, "i")) : undefined,
      tables: r.tables?.map((t) => t.replaceAll('"', "").trim().toLowerCase()),
      allowProbes: r.allowProbes === true,
    });
  }
  return out;
}

/** A relation the statement names may be one the pattern covers (a bare name may be in any schema). */
function mayCover(pattern: string, object: string): boolean {
  if (pattern === "*") return true;
  const dot = object.lastIndexOf(".");
  const schema = dot < 0 ? undefined : object.slice(0, dot);
  const name = object.slice(dot + 1);
  const pdot = pattern.lastIndexOf(".");
  const pschema = pdot < 0 ? undefined : pattern.slice(0, pdot);
  const pname = pattern.slice(pdot + 1);
  if (pschema && schema && pschema !== schema) return false;
  return pname === "*" || pname === name;
}

/** The rule applies unless it filters on tables the statement provably does not read. */
function applies(rule: LineageRule, s: StatementInfo): boolean {
  if (!rule.tables) return true;
  if (s.objects.some((o) => rule.tables?.some((p) => mayCover(p, o)))) return true;
  // a function that is not a known built-in may read a covered table
  return s.functions.some((f) => !isReadOnlyFunction([f]));
}

function matches(rule: LineageRule, column: string): boolean {
  return rule.columns ? rule.columns.some((re) => re.test(column)) : true;
}

function lastPart(ref: string): string {
  return ref.slice(ref.lastIndexOf(".") + 1);
}

/** A reference to a whole row: `*`, `u.*` outside the top-level list, or a range's own name. */
function wholeRow(ref: string, l: Lineage): boolean {
  return lastPart(ref) === "*" || (!ref.includes(".") && l.ranges.includes(ref));
}

function refusal(rule: LineageRule, column: string, where: string): { rule: string; message: string } {
  return {
    rule: MASKED_LINEAGE_RULE,
    message: `Sluice refuses this statement: ${where} "${column}", which masking rule "${rule.name}" covers; on this connection a masked column may only be selected as a bare column (rule ${MASKED_LINEAGE_RULE})`,
  };
}

function checkRule(rule: LineageRule, l: Lineage): { rule: string; message: string } | undefined {
  if (
    rule.tables === undefined
      ? l.renamed.length > 0
      : l.renamed.some((r) => rule.tables?.some((p) => r === "*" || mayCover(p, r)))
  )
    return refusal(rule, l.renamed[0] ?? "*", "a column alias list renames the columns of");
  for (const r of l.results) {
    if (wholeRow(r.ref, l) && lastPart(r.ref) !== "*")
      return refusal(rule, r.ref, "it selects the whole row");
    const column = lastPart(r.ref);
    // `SELECT * … ORDER BY 2`: an ordinal past a star may name any column it expands to
    const ordered = l.distinct || l.orderedPositions.some((p) => p >= r.position);
    if (column === "*" && ordered && !rule.allowProbes)
      return refusal(rule, r.ref, "it orders, groups or de-duplicates by a column of");
    if (column === "*" || !matches(rule, column)) continue;
    if (rule.columns && !matches(rule, r.output))
      return refusal(rule, column, `the alias "${r.output}" hides the masked column`);
    if (!rule.allowProbes && (l.distinct || l.orderedPositions.includes(r.position)))
      return refusal(rule, column, "it orders, groups or de-duplicates by the masked column");
  }
  for (const ref of l.expressions) {
    if (wholeRow(ref, l)) return refusal(rule, ref, "an expression or subquery uses the whole row");
    if (matches(rule, lastPart(ref)))
      return refusal(rule, lastPart(ref), "an expression or subquery uses the column");
  }
  if (rule.allowProbes) return undefined;
  for (const ref of l.predicates) {
    if (wholeRow(ref, l))
      return refusal(rule, ref, "a condition, join, grouping or ordering uses the whole row");
    if (matches(rule, lastPart(ref)))
      return refusal(rule, lastPart(ref), "a condition, join, grouping or ordering uses the column");
  }
  return undefined;
}

/** The check of a connection's masking rules, or undefined when none replaces whole values by column or table. */
export function compileLineageCheck(documents: readonly PolicyDocument[]): LineageCheck | undefined {
  const rules = lineageRules(documents);
  if (rules.length === 0) return undefined;
  return (s) => {
    // dialects without lineage (MySQL today) are not checked; see the README
    const l = s.lineage;
    if (!l) return undefined;
    for (const rule of rules) {
      if (!applies(rule, s)) continue;
      const refused = checkRule(rule, l);
      if (refused) return refused;
    }
    return undefined;
  };
}
