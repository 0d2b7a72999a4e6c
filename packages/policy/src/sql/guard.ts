import type { GuardrailRule, PolicyDocument, ReviewRule } from "../rules";
import type { Classification, StatementInfo } from "./classify";
import { postgresDialect, type SqlDialect } from "./dialect";
import type { LineageCheck } from "./masked-lineage";
import { builtInRefusal } from "./refusals";

/** What the agent does with a query string. */
export type GuardVerdict =
  | { action: "allow" }
  | {
      action: "deny";
      /** The rule's name; `sluice.unparseable` / `sluice.opaque` for the built-in fail-closed rules. */
      rule: string;
      policyId?: string;
      policyName?: string;
      /** Client-facing text naming the rule. */
      message: string;
      /** The statement that triggered it. */
      statement: string;
    }
  | {
      action: "review";
      rule: string;
      policyId: string;
      policyName: string;
      /** The review rule that decides who approves. */
      reviewRule: string;
      message: string;
      statement: string;
    };

export interface Guard {
  /** False when no policy applies any SQL rule: queries pass without parsing. */
  readonly active: boolean;
  evaluate(sql: string): GuardVerdict;
}

/** What a dialect may add so the guard can share one verdict among texts that differ only in literals. */
export interface LiteralShaping {
  /**
   * A key for `sql` such that every text with the same key classifies the same in all but
   * each statement's `text`, whatever its literal values; `undefined` when the dialect gives
   * no such guarantee for this text (it must not guess).
   */
  literalShape?(sql: string): string | undefined;
  /**
   * Confirms, for a text just classified as `c`, that other literal values classify the
   * same (all but `text`); a shape is only shared once this holds for its first text.
   */
  literalBlind?(sql: string, c: Classification): boolean;
}

export interface GuardOptions {
  /** Distinct statement texts whose verdicts are kept (default 4096). */
  cacheEntries?: number;
  /** Longer texts are evaluated every time (default 16 KiB). */
  cacheMaxText?: number;
  /** How statements are split and classified (default PostgreSQL). */
  dialect?: SqlDialect & LiteralShaping;
  /** The masked-lineage check of the connection's masking rules (see masked-lineage.ts). */
  lineage?: LineageCheck;
}

interface CompiledRule {
  policy: PolicyDocument;
  name: string;
  kinds?: Set<string>;
  objects?: ObjectPattern[];
  requireWhere: boolean;
  readOnly: boolean;
  pattern?: RegExp;
  message?: string;
}

interface ObjectPattern {
  schema?: string;
  /** `*` for every relation of the schema. */
  name: string;
}

function parseObject(pattern: string): ObjectPattern {
  const p = pattern.toLowerCase().trim();
  const dot = p.lastIndexOf(".");
  if (dot < 0) return { name: p };
  return { schema: p.slice(0, dot), name: p.slice(dot + 1) };
}

/**
 * An object the statement names matches a pattern when the names agree. A statement's
 * unqualified name may resolve to any schema on the search path, so it matches
 * `schema.table` patterns by its table name; `schema.*` (DROP SCHEMA) matches every
 * pattern of that schema.
 */
function objectMatches(object: string, p: ObjectPattern): boolean {
  const dot = object.lastIndexOf(".");
  const schema = dot < 0 ? undefined : object.slice(0, dot);
  const name = dot < 0 ? object : object.slice(dot + 1);
  if (p.schema && schema && p.schema !== schema) return false;
  if (name === "*") return p.schema !== undefined && p.schema === schema;
  if (p.name === "*") return schema === undefined ? false : p.schema === schema;
  return p.name === name;
}

function compileRule(policy: PolicyDocument, r: GuardrailRule | ReviewRule): CompiledRule | undefined {
  const g = r as Partial<GuardrailRule>;
  // HTTP and Kubernetes rules (allow lanes, and `readOnly` meaning "no writes" there) are not SQL rules.
  if (g.action === "allow" || r.http || r.kube) return undefined;
  const rule: CompiledRule = {
    policy,
    name: r.name,
    requireWhere: g.requireWhere === true,
    readOnly: g.readOnly === true,
    ...(r.statementKinds?.length ? { kinds: new Set(r.statementKinds.map((k) => k.trim())) } : {}),
    ...(r.objects?.length ? { objects: r.objects.map(parseObject) } : {}),
    ...(r.pattern ? { pattern: new RegExp(r.pattern, "i") } : {}),
    ...(g.message ? { message: g.message } : {}),
  };
  const appliesToSql = rule.kinds || rule.objects || rule.requireWhere || rule.readOnly || rule.pattern;
  return appliesToSql ? rule : undefined;
}

function ruleMatches(rule: CompiledRule, s: StatementInfo): boolean {
  if (rule.kinds && ![...s.kinds].some((k) => rule.kinds?.has(k))) return false;
  if (rule.objects && !s.objects.some((o) => rule.objects?.some((p) => objectMatches(o, p)))) return false;
  if (rule.requireWhere && !s.unboundedWrite) return false;
  if (rule.readOnly && s.readOnly) return false;
  if (rule.pattern && !rule.pattern.test(s.text)) return false;
  return true;
}

function describe(rule: CompiledRule): string {
  if (rule.message) return rule.message;
  if (rule.readOnly) return "this connection is read-only";
  if (rule.requireWhere) return "UPDATE and DELETE need a WHERE clause";
  return "the statement is not allowed on this connection";
}

const ALLOW: GuardVerdict = { action: "allow" };

/** Compiles the SQL rules of a connection's policies into one guard with a verdict cache. */
export function compileGuard(policies: PolicyDocument[], options: GuardOptions = {}): Guard {
  const denies: CompiledRule[] = [];
  const reviews: { rule: CompiledRule; reviewRule: string }[] = [];
  for (const policy of policies) {
    for (const g of policy.guardrails) {
      const rule = compileRule(policy, g);
      if (!rule) continue;
      const reviewer = policy.reviewRules[0];
      // A guardrail that asks for review without a review rule to route it to is a deny.
      if (g.action === "review" && reviewer) reviews.push({ rule, reviewRule: reviewer.name });
      else denies.push(rule);
    }
    for (const r of policy.reviewRules) {
      const rule = compileRule(policy, r);
      if (rule) reviews.push({ rule, reviewRule: r.name });
    }
  }
  const lineage = options.lineage;
  const active = denies.length > 0 || reviews.length > 0 || lineage !== undefined;
  const maxEntries = options.cacheEntries ?? 4096;
  const maxText = options.cacheMaxText ?? 16 * 1024;
  const dialect: SqlDialect & LiteralShaping = options.dialect ?? postgresDialect;
  /**
   * Verdicts by exact statement text. The key is the whole text, never a literal-normalized
   * shape: in PostgreSQL a literal can be a DO body, an EXPLAIN option or a function's SQL
   * argument, so two texts of the same shape can deserve different verdicts.
   */
  const cache = new Map<string, GuardVerdict>();
  /**
   * Literal shapes judged "allow", for dialects that vouch for them (`literalShape`): a
   * client that inlines its parameters sends a new text per statement, and a shape stands
   * for all of them. Only "allow" is kept (a refusal quotes its statement), and only when
   * no rule matches raw text: a `pattern` can see literal values; every other input of a
   * verdict is the classification, which the dialect vouches is the same for the shape
   * (checked with `literalBlind` on the text that first fills it).
   */
  const shapes = new Map<string, true>();
  const rules = [...denies, ...reviews.map((r) => r.rule)];
  const shaping = !rules.some((r) => r.pattern) && dialect.literalShape && dialect.literalBlind;
  const shapeOf = shaping ? dialect.literalShape?.bind(dialect) : undefined;

  function remember(key: string, value: GuardVerdict): void {
    if (key.length > maxText) return;
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, value);
  }

  function rememberShape(shape: string): void {
    if (shape.length > maxText) return;
    if (shapes.size >= maxEntries) shapes.delete(shapes.keys().next().value as string);
    shapes.set(shape, true);
  }

  function decide(sql: string, c: Classification): GuardVerdict {
    if (!c.ok) {
      return {
        action: "deny",
        rule: "sluice.unparseable",
        message: `Sluice cannot parse this statement, and this connection only runs statements it can check (${c.error})`,
        statement: sql,
      };
    }
    for (const s of c.statements) {
      const builtIn = builtInRefusal(s, "before-rules");
      if (builtIn) return { action: "deny", ...builtIn, statement: s.text };
      if (s.opaque) {
        return {
          action: "deny",
          rule: "sluice.opaque",
          message:
            "Sluice cannot see what this statement runs (dynamic SQL or EXECUTE of a prepared statement), and this connection only runs statements it can check",
          statement: s.text,
        };
      }
      for (const rule of denies) {
        if (!ruleMatches(rule, s)) continue;
        return {
          action: "deny",
          rule: rule.name,
          policyId: rule.policy.id,
          policyName: rule.policy.name,
          message: `blocked by Sluice policy "${rule.policy.name}", rule "${rule.name}": ${describe(rule)}`,
          statement: s.text,
        };
      }
      const outside = builtInRefusal(s, "after-rules");
      if (outside) return { action: "deny", ...outside, statement: s.text };
      const leak = lineage?.(s);
      if (leak) return { action: "deny", ...leak, statement: s.text };
    }
    for (const s of c.statements) {
      for (const { rule, reviewRule } of reviews) {
        if (!ruleMatches(rule, s)) continue;
        return {
          action: "review",
          rule: rule.name,
          policyId: rule.policy.id,
          policyName: rule.policy.name,
          reviewRule,
          message: `held for review by Sluice policy "${rule.policy.name}", rule "${rule.name}"`,
          statement: s.text,
        };
      }
    }
    return ALLOW;
  }

  return {
    active,
    evaluate(sql: string): GuardVerdict {
      if (!active) return ALLOW;
      const hit = cache.get(sql);
      if (hit) return hit;
      const shape = shapeOf && sql.length <= maxText ? shapeOf(sql) : undefined;
      if (shape !== undefined && shapes.has(shape)) return ALLOW;
      const c = dialect.classify(sql);
      const verdict = decide(sql, c);
      remember(sql, verdict);
      if (shape !== undefined && verdict === ALLOW && dialect.literalBlind?.(sql, c)) rememberShape(shape);
      return verdict;
    },
  };
}
