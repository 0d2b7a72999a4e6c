import { type JsonPath, JsonPathError, parseJsonPath } from "../json/json-path";
import { type MaskingRule, maskingRule } from "../rules";
import type { ActionKind, MaskAction } from "./actions";
import { createDetector, type Detector } from "./detectors";
import { MaskingError } from "./errors";
import { builtinTypeName, isBuiltinTypeName, normalizeTypeName } from "./pg-types";
import type { CatalogNames, ResultColumn } from "./types";

/** One rule, ready to be matched against columns. */
export interface CompiledRule {
  readonly name: string;
  readonly columns: readonly RegExp[] | undefined;
  /** JSON body paths (HTTP only). */
  readonly jsonPaths: readonly JsonPath[] | undefined;
  readonly tables: readonly TablePattern[] | undefined;
  readonly types: ReadonlySet<string> | undefined;
  /** The rule names a type that is not built in (its OID comes from the catalog). */
  readonly namesExtensionType: boolean;
  readonly detector: Detector | undefined;
  readonly action: MaskAction;
}

interface TablePattern {
  readonly text: string;
  matches(qualified: string): boolean;
}

/** `schema.table` exactly, `schema.*` any table of the schema, bare `table` that table in any schema, `*` any table. */
function tablePattern(raw: string): TablePattern {
  const text = raw.replaceAll('"', "").trim().toLowerCase();
  if (text === "*") return { text, matches: () => true };
  if (text.endsWith(".*")) {
    const prefix = text.slice(0, -1);
    return { text, matches: (q) => q.startsWith(prefix) };
  }
  if (text.includes(".")) return { text, matches: (q) => q === text };
  const suffix = `.${text}`;
  return { text, matches: (q) => q === text || q.endsWith(suffix) };
}

function invalid(rule: string, detail: string): never {
  throw new MaskingError("invalid_rule", `masking rule "${rule}": ${detail}`);
}

export function compileRule(input: MaskingRule, index: number): CompiledRule {
  const parsed = maskingRule.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "rule"}: ${i.message}`).join("; ");
    invalid((input as { name?: unknown })?.name?.toString() ?? `#${index + 1}`, issues);
  }
  const r = parsed.data;
  for (const key of ["columns", "jsonPaths", "tables", "types"] as const) {
    if (r[key]?.length === 0) invalid(r.name, `${key} is empty (omit it to match everything)`);
  }
  if (!r.detector && !r.columns && !r.jsonPaths && !r.tables && !r.types) {
    invalid(r.name, "a rule needs columns, jsonPaths, tables or types to mask whole values, or a detector");
  }
  if (r.pattern !== undefined && r.detector !== "custom")
    invalid(r.name, 'pattern is only used by detector "custom"');
  if (r.action === "keep_last" && r.keep === undefined)
    invalid(r.name, "keep_last needs keep (characters to keep)");
  if (r.action !== "keep_last" && r.keep !== undefined) invalid(r.name, "keep is only used by keep_last");
  const types = r.types?.map(normalizeTypeName);
  return {
    name: r.name,
    columns: r.columns?.map((c) => new RegExp(c, "i")),
    jsonPaths: r.jsonPaths?.map((p) => {
      try {
        return parseJsonPath(p);
      } catch (err) {
        if (err instanceof JsonPathError) invalid(r.name, `jsonPaths: ${err.message}`);
        throw err;
      }
    }),
    tables: r.tables?.map(tablePattern),
    types: types ? new Set(types) : undefined,
    namesExtensionType: types?.some((t) => !isBuiltinTypeName(t)) ?? false,
    detector: r.detector ? createDetector(r.detector, r.pattern, r.name) : undefined,
    action: { kind: r.action as ActionKind, keep: r.keep ?? 0 },
  };
}

/**
 * Whether a rule's filters cover a column. Every filter the rule has must match.
 * Table filter, fail closed: a column of a table the agent cannot name is covered; an
 * expression column (table OID 0) is covered only when the rule also filters on column
 * names (and the name matched), so `SELECT lower(email) AS email` is still masked while
 * `SELECT count(*)` is not masked by a whole-table rule.
 * Type filter: an unknown type OID is covered only if the rule names a non-built-in type.
 * A rule that selects by `jsonPaths` alone covers no column.
 */
export function ruleCovers(rule: CompiledRule, col: ResultColumn, names: CatalogNames): boolean {
  if (!appliesToColumns(rule)) return false;
  if (rule.columns && !rule.columns.some((re) => re.test(col.name))) return false;
  if (rule.tables) {
    if (col.tableOid === 0) {
      if (!rule.columns) return false;
    } else {
      const table = names.table(col.tableOid);
      if (table !== undefined && !rule.tables.some((p) => p.matches(table))) return false;
    }
  }
  if (rule.types) {
    const type = builtinTypeName(col.typeOid) ?? names.type(col.typeOid);
    if (type === undefined) return rule.namesExtensionType;
    if (!rule.types.has(type)) return false;
  }
  return true;
}

/** Whether a rule can cover result columns: one that selects by `jsonPaths` alone is for HTTP bodies only. */
export function appliesToColumns(rule: CompiledRule): boolean {
  return (
    rule.jsonPaths === undefined ||
    rule.columns !== undefined ||
    rule.tables !== undefined ||
    rule.types !== undefined
  );
}
