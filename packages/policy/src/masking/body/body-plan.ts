import type { PathKey, PathStep } from "../../json/json-path";
import type { Hasher } from "../actions";
import { scannerFor } from "../byte-scan";
import type { ColumnPlan, DetectorUse } from "../column-plan";
import type { CompiledRule } from "../compiled-rule";
import { countKinds, Op } from "../value-masker";

/**
 * The masking rules that apply to HTTP bodies, compiled from the plan's rules:
 * - a rule without a detector masks whole the values at its `jsonPaths` and under keys
 *   matching its `columns` (objects and arrays there: every scalar inside);
 * - a detector rule masks matches inside strings (and number literals): everywhere when
 *   it has neither `columns` nor `jsonPaths`, otherwise only at and below what they select.
 * `tables` and `types` filters do not apply to bodies; a rule with only those is ignored.
 */
export interface BodyPlan {
  readonly hasher: Hasher;
  /** The context of a document's root value. */
  readonly root: JsonContext;
  /** Every detector of the body rules, for text bodies (no keys there to scope them by). */
  readonly text: ColumnPlan | undefined;
  /** Some rule masks whole JSON values. */
  readonly wholeValues: boolean;
}

interface PathRef {
  readonly steps: readonly PathStep[];
  readonly rule: number;
}

interface Shared {
  readonly rules: readonly CompiledRule[];
  readonly paths: readonly PathRef[];
  /** Rules with `columns` (matched against object keys). */
  readonly keyRules: readonly number[];
  readonly interned: Map<string, JsonContext>;
}

const INTERN_LIMIT = 4096;
const CHILD_LIMIT = 1024;

function detectPlan(uses: readonly DetectorUse[]): ColumnPlan {
  let needs = 0;
  for (const u of uses) needs |= u.detector.needs;
  const utf8 = uses.some((u) => !u.detector.asciiOnly);
  return { op: Op.detectText, whole: undefined, json: false, uses, needs, scan: scannerFor(needs), utf8 };
}

/** Detector uses of the rules in `active`, in rule order; a built-in detector runs once (first rule's action). */
function usesOf(
  rules: readonly CompiledRule[],
  active: (r: CompiledRule, i: number) => boolean,
): DetectorUse[] {
  const uses: DetectorUse[] = [];
  rules.forEach((r, i) => {
    const d = r.detector;
    if (!d || !active(r, i)) return;
    if (d.kind !== "custom" && uses.some((u) => u.detector === d)) return;
    uses.push({ detector: d, action: r.action, slot: countKinds.indexOf(d.kind) });
  });
  return uses;
}

const selects = (r: CompiledRule) => r.columns !== undefined || r.jsonPaths !== undefined;

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

/**
 * What applies to the values at one place of a document: the path positions still
 * live, the whole-value rule in effect (from this value or an ancestor) and the scoped
 * detector rules in effect. Contexts are interned and their children memoized, so
 * following a key is usually one map lookup.
 */
export class JsonContext {
  /** Whole-value plan (keep_last also runs the detectors in effect over the kept tail). */
  readonly whole: ColumnPlan | undefined;
  /** The whole-value action is `redact`: no need to read the value. */
  readonly wholeRedact: boolean;
  /** Detectors for strings and numbers here, when not masked whole. */
  readonly detect: ColumnPlan | undefined;
  /** Children differ by object key (the masker must read keys). */
  readonly keySensitive: boolean;
  private readonly indexSensitive: boolean;
  private readonly byKey = new Map<PathKey, JsonContext>();
  private readonly byBytes = new KeyTable();
  private anyKey: JsonContext | undefined;
  private anyIndex: JsonContext | undefined;

  constructor(
    private readonly shared: Shared,
    private readonly positions: readonly number[],
    private readonly wholeRule: number,
    private readonly scoped: readonly number[],
  ) {
    const { rules, paths } = shared;
    const uses = usesOf(rules, (r, i) => !selects(r) || scoped.includes(i));
    const action = wholeRule >= 0 ? rules[wholeRule]!.action : undefined;
    this.whole = action
      ? {
          ...detectPlan(action.kind === "keep_last" ? uses : []),
          op: Op.wholeText,
          whole: action,
          json: true,
        }
      : undefined;
    this.wholeRedact = action?.kind === "redact";
    this.detect = uses.length > 0 ? detectPlan(uses) : undefined;
    const steps = positions.map((p) => paths[p >> 8]!.steps[p & 0xff]!);
    this.keySensitive =
      shared.keyRules.length > 0 ||
      steps.some((s) => s.kind === "key" || (s.kind === "descend" && s.key !== undefined));
    this.indexSensitive = steps.some((s) => s.kind === "index");
  }

  /** The context of the member with the UTF-8 key `buf[start, end)` (no string is made for a key seen before). */
  childOfKeyBytes(buf: Uint8Array, start: number, end: number): JsonContext {
    if (!this.keySensitive) {
      this.anyKey ??= this.child("");
      return this.anyKey;
    }
    const hash = hashBytes(buf, start, end);
    const hit = this.byBytes.get(hash, buf, start, end);
    if (hit) return hit;
    const c = this.child(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("utf8"));
    this.byBytes.set(hash, buf, start, end, c);
    return c;
  }

  childOfIndex(index: number): JsonContext {
    if (!this.indexSensitive) {
      this.anyIndex ??= this.child(index);
      return this.anyIndex;
    }
    return this.memo(index);
  }

  private memo(key: PathKey): JsonContext {
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const c = this.child(key);
    if (this.byKey.size < CHILD_LIMIT) this.byKey.set(key, c);
    return c;
  }

  private child(key: PathKey): JsonContext {
    const { paths, rules, keyRules } = this.shared;
    const next = new Set<number>();
    const matched: number[] = [];
    for (const pos of this.positions) {
      const ref = paths[pos >> 8]!;
      const s = pos & 0xff;
      const step = ref.steps[s]!;
      if (step.kind === "descend") next.add(pos);
      if (!stepMatches(step, key)) continue;
      if (s + 1 === ref.steps.length) matched.push(ref.rule);
      else next.add(pos + 1);
    }
    if (typeof key === "string") {
      for (const r of keyRules) if (rules[r]!.columns!.some((re) => re.test(key))) matched.push(r);
    }
    return context(
      this.shared,
      [...next].sort((a, b) => a - b),
      this.wholeRule,
      this.scoped,
      matched,
    );
  }
}

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

const TABLE_SIZE = 2048;

/** Children by key bytes: an open-addressing table of at most {@link CHILD_LIMIT} keys. */
class KeyTable {
  private readonly slots = new Int32Array(TABLE_SIZE).fill(-1);
  private readonly hashes: number[] = [];
  private readonly keys: Buffer[] = [];
  private readonly values: JsonContext[] = [];

  get(hash: number, buf: Uint8Array, start: number, end: number): JsonContext | undefined {
    const n = end - start;
    for (let at = hash & (TABLE_SIZE - 1); ; at = (at + 1) & (TABLE_SIZE - 1)) {
      const e = this.slots[at]!;
      if (e < 0) return undefined;
      if (this.hashes[e] !== hash) continue;
      const key = this.keys[e]!;
      if (key.length !== n) continue;
      let same = true;
      for (let i = 0; i < n; i++) {
        if (key[i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.values[e];
    }
  }

  set(hash: number, buf: Uint8Array, start: number, end: number, value: JsonContext): void {
    if (this.keys.length >= CHILD_LIMIT) return;
    let at = hash & (TABLE_SIZE - 1);
    while (this.slots[at]! >= 0) at = (at + 1) & (TABLE_SIZE - 1);
    this.slots[at] = this.keys.length;
    this.hashes.push(hash);
    this.keys.push(Buffer.from(buf.subarray(start, end)));
    this.values.push(value);
  }
}

function context(
  shared: Shared,
  positions: number[],
  inheritedWhole: number,
  inheritedScoped: readonly number[],
  matched: readonly number[],
): JsonContext {
  let whole = inheritedWhole;
  const scoped = new Set(inheritedScoped);
  for (const r of matched) {
    if (shared.rules[r]!.detector) scoped.add(r);
    else if (whole < 0 || r < whole) whole = r;
  }
  const sortedScoped = [...scoped].sort((a, b) => a - b);
  const id = `${positions.join(",")}|${whole}|${sortedScoped.join(",")}`;
  const hit = shared.interned.get(id);
  if (hit) return hit;
  const c = new JsonContext(shared, positions, whole, sortedScoped);
  if (shared.interned.size < INTERN_LIMIT) shared.interned.set(id, c);
  return c;
}

/** The body plan of a rule set, or undefined when no rule applies to bodies. */
export function compileBodyPlan(rules: readonly CompiledRule[], hasher: Hasher): BodyPlan | undefined {
  const applies = rules.filter((r) => r.detector !== undefined || selects(r));
  if (applies.length === 0) return undefined;
  const paths: PathRef[] = [];
  const rootMatched: number[] = [];
  applies.forEach((r, rule) => {
    for (const p of r.jsonPaths ?? []) {
      if (p.steps.length === 0) rootMatched.push(rule);
      else paths.push({ steps: p.steps.slice(0, 255), rule });
    }
  });
  const keyRules = applies.flatMap((r, i) => (r.columns ? [i] : []));
  const shared: Shared = { rules: applies, paths, keyRules, interned: new Map() };
  const root = context(
    shared,
    paths.map((_, i) => i << 8),
    -1,
    [],
    rootMatched,
  );
  const all = usesOf(applies, () => true);
  return {
    hasher,
    root,
    text: all.length > 0 ? detectPlan(all) : undefined,
    wholeValues: applies.some((r) => r.detector === undefined),
  };
}
