/**
 * JSON paths as policy rules write them (`$.customers[*].ssn`, `$..email`, `$.items[0]`),
 * compiled once and matched against the key path of a value: a streaming masker knows
 * the path of the value it is reading, a request rule evaluates the same paths on a
 * parsed body.
 */

export type PathStep =
  /** `.key` or `['key']` */
  | { kind: "key"; key: string }
  /** `[3]` */
  | { kind: "index"; index: number }
  /** `[*]` or `.*`: any one key or index */
  | { kind: "any" }
  /** `..key` (or `..*`): zero or more levels, then `key` (any key when undefined) */
  | { kind: "descend"; key: string | undefined };

/** One key of the path to a value: an object key or an array index. */
export type PathKey = string | number;

export interface JsonPath {
  readonly text: string;
  readonly steps: readonly PathStep[];
}

export class JsonPathError extends Error {}

const NAME = /^[A-Za-z_$][\w$-]*/;

/** Parses `text`; throws `JsonPathError` with the offset of what it cannot read. */
export function parseJsonPath(text: string): JsonPath {
  if (text.length > 200) throw new JsonPathError("JSON paths are at most 200 characters");
  if (text[0] !== "$") throw new JsonPathError("a JSON path starts with $");
  const steps: PathStep[] = [];
  let i = 1;
  while (i < text.length) {
    const rest = text.slice(i);
    if (rest.startsWith("..")) {
      const after = rest.slice(2);
      if (after.startsWith("*")) {
        steps.push({ kind: "descend", key: undefined });
        i += 3;
        continue;
      }
      const m = NAME.exec(after);
      if (!m) throw new JsonPathError(`expected a key after '..' at offset ${i}`);
      steps.push({ kind: "descend", key: m[0] });
      i += 2 + m[0].length;
    } else if (rest[0] === ".") {
      const after = rest.slice(1);
      if (after.startsWith("*")) {
        steps.push({ kind: "any" });
        i += 2;
        continue;
      }
      const m = NAME.exec(after);
      if (!m) throw new JsonPathError(`expected a key after '.' at offset ${i}`);
      steps.push({ kind: "key", key: m[0] });
      i += 1 + m[0].length;
    } else if (rest[0] === "[") {
      const close = bracketEnd(text, i);
      const inner = text.slice(i + 1, close);
      if (inner === "*") steps.push({ kind: "any" });
      else if (/^\d{1,9}$/.test(inner)) steps.push({ kind: "index", index: Number(inner) });
      else if (inner.length >= 2 && inner[0] === "'" && inner[inner.length - 1] === "'") {
        steps.push({ kind: "key", key: inner.slice(1, -1).replace(/\\(.)/g, "$1") });
      } else throw new JsonPathError(`cannot read [${inner}] at offset ${i}`);
      i = close + 1;
    } else {
      throw new JsonPathError(`unexpected '${rest[0]}' at offset ${i}`);
    }
  }
  return { text, steps };
}

function bracketEnd(text: string, open: number): number {
  let quoted = false;
  for (let j = open + 1; j < text.length; j++) {
    const c = text[j];
    if (quoted && c === "\\") j++;
    else if (c === "'") quoted = !quoted;
    else if (c === "]" && !quoted) return j;
  }
  throw new JsonPathError(`unclosed '[' at offset ${open}`);
}

function stepMatches(step: PathStep, key: PathKey): boolean {
  switch (step.kind) {
    case "key":
      return key === step.key;
    case "index":
      return key === step.index;
    case "any":
      return true;
    case "descend":
      return step.key === undefined || key === step.key;
  }
}

/** Whether the value at `keys` (from the document root) is one the path selects. */
export function jsonPathMatches(path: JsonPath, keys: readonly PathKey[]): boolean {
  return matchFrom(path.steps, 0, keys, 0);
}

function matchFrom(steps: readonly PathStep[], s: number, keys: readonly PathKey[], k: number): boolean {
  if (s === steps.length) return k === keys.length;
  const step = steps[s] as PathStep;
  if (step.kind === "descend") {
    for (let j = k; j < keys.length; j++) {
      if (stepMatches(step, keys[j] as PathKey) && matchFrom(steps, s + 1, keys, j + 1)) return true;
    }
    return false;
  }
  if (k === keys.length || !stepMatches(step, keys[k] as PathKey)) return false;
  return matchFrom(steps, s + 1, keys, k + 1);
}

/**
 * Whether some value below `keys` could still be selected: a streaming reader uses it to
 * skip the subtrees no path reaches.
 */
export function jsonPathMayMatchBelow(path: JsonPath, keys: readonly PathKey[]): boolean {
  return prefixFrom(path.steps, 0, keys, 0);
}

function prefixFrom(steps: readonly PathStep[], s: number, keys: readonly PathKey[], k: number): boolean {
  if (k === keys.length) return s < steps.length;
  if (s === steps.length) return false;
  const step = steps[s] as PathStep;
  if (step.kind === "descend") return true;
  if (!stepMatches(step, keys[k] as PathKey)) return false;
  return prefixFrom(steps, s + 1, keys, k + 1);
}

/** The values a path selects in a parsed document (request rules read bodies this way). */
export function selectJson(path: JsonPath, doc: unknown): unknown[] {
  const out: unknown[] = [];
  collect(path.steps, 0, doc, out);
  return out;
}

function children(v: unknown): [PathKey, unknown][] {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v !== null && typeof v === "object") return Object.entries(v as Record<string, unknown>);
  return [];
}

function collect(steps: readonly PathStep[], s: number, v: unknown, out: unknown[]): void {
  if (out.length >= 10_000) return;
  if (s === steps.length) {
    out.push(v);
    return;
  }
  const step = steps[s] as PathStep;
  if (step.kind === "descend") {
    for (const [k, child] of children(v)) {
      if (stepMatches(step, k)) collect(steps, s + 1, child, out);
      collect(steps, s, child, out);
    }
    return;
  }
  for (const [k, child] of children(v)) {
    if (stepMatches(step, k)) collect(steps, s + 1, child, out);
  }
}
