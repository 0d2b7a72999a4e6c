/** Label and field selectors with the API server's syntax (`a=b,c!=d,e in (x,y),!f`). */
import { badRequest } from "./status";
import type { KubeObject } from "./store";

export type Matcher = (obj: KubeObject) => boolean;

/** Splits on commas that are not inside `( … )`. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.map((t) => t.trim()).filter(Boolean);
}

function labelTerm(term: string): (labels: Record<string, string>) => boolean {
  let m = /^(!)?\s*([A-Za-z0-9_./-]+)$/.exec(term);
  if (m) {
    const [, not, key = ""] = m;
    return (labels) => key in labels !== Boolean(not);
  }
  m = /^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$/.exec(term);
  if (m) {
    const [, key = "", op, value] = m;
    return (labels) => (op === "!=" ? labels[key] !== value : labels[key] === value);
  }
  m = /^([A-Za-z0-9_./-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key = "", op, list = ""] = m;
    const values = new Set(list.split(",").map((v) => v.trim()));
    return (labels) => {
      const v = labels[key];
      return op === "in" ? v !== undefined && values.has(v) : v === undefined || !values.has(v);
    };
  }
  throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
}

export function labelMatcher(selector: string | null): Matcher {
  if (!selector) return () => true;
  const checks = terms(selector).map(labelTerm);
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return checks.every((check) => check(labels));
  };
}

function fieldValue(obj: KubeObject, field: string): string | undefined {
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur === undefined || cur === null ? "" : String(cur);
}

const FIELDS = new Set(["metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "type"]);

export function fieldMatcher(selector: string | null): Matcher {
  if (!selector) return () => true;
  const checks = terms(selector).map((term) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${term}'; can't understand '${term}'`);
    const [, field = "", op, value] = m;
    if (!FIELDS.has(field)) throw badRequest(`field label not supported: ${field}`);
    return (obj: KubeObject) =>
      op === "!=" ? fieldValue(obj, field) !== value : fieldValue(obj, field) === value;
  });
  return (obj) => checks.every((check) => check(obj));
}
