import type { MaskAction } from "./actions";
import { type Scanner, scannerFor } from "./byte-scan";
import { type CompiledRule, ruleCovers } from "./compiled-rule";
import type { Detector } from "./detectors";
import { builtinDetectorsFor, builtinTypeName, Codec, codecOf, isInertType, isJsonType } from "./pg-types";
import type { CatalogNames, ResultColumn } from "./types";
import { countKinds, Op } from "./value-masker";

export interface DetectorUse {
  readonly detector: Detector;
  readonly action: MaskAction;
  /** Counter slot of the detector. */
  readonly slot: number;
}

/** What to do with the values of one column; precomputed per RowDescription. */
export interface ColumnPlan {
  readonly op: Op;
  /** Whole-value action (wholeText, wholeJsonb). */
  readonly whole: MaskAction | undefined;
  /** json/jsonb: whole-value outputs are written as JSON strings. */
  readonly json: boolean;
  readonly uses: readonly DetectorUse[];
  /** Union of the detectors' prefilter features. */
  readonly needs: number;
  /** The scanner that computes them. */
  readonly scan: Scanner;
  /** Some detector needs the UTF-8 view (custom patterns) when a value is not plain ASCII. */
  readonly utf8: boolean;
}

function slotOf(detector: Detector): number {
  return countKinds.indexOf(detector.kind);
}

/** The detectors of the covering rules that can match values of the column's type. */
function detectorUses(rules: readonly CompiledRule[], typeName: string | undefined): DetectorUse[] {
  const possible = builtinDetectorsFor(typeName);
  const uses: DetectorUse[] = [];
  for (const r of rules) {
    const d = r.detector!;
    if (d.kind !== "custom" && possible && !possible.includes(d.kind)) continue;
    // a built-in detector runs once per column (the first rule's action wins); every custom pattern runs
    if (d.kind !== "custom" && uses.some((u) => u.detector === d)) continue;
    uses.push({ detector: d, action: r.action, slot: slotOf(d) });
  }
  return uses;
}

function detectPlan(op: Op, uses: readonly DetectorUse[]): ColumnPlan {
  let needs = 0;
  for (const u of uses) needs |= u.detector.needs;
  const utf8 = uses.some((u) => !u.detector.asciiOnly);
  return { op, whole: undefined, json: false, uses, needs, scan: scannerFor(needs), utf8 };
}

/** The plan of one column, or undefined when no rule covers it or it passes untouched. */
export function planColumn(
  rules: readonly CompiledRule[],
  col: ResultColumn,
  names: CatalogNames,
): ColumnPlan | undefined {
  const covering = rules.filter((r) => ruleCovers(r, col, names));
  if (covering.length === 0) return undefined;
  const typeName = builtinTypeName(col.typeOid) ?? names.type(col.typeOid);
  const codec = codecOf(col.format, col.typeOid, typeName);
  const wholeRule = covering.find((r) => r.detector === undefined);
  if (wholeRule) {
    const json = isJsonType(typeName);
    const op = codec === Codec.text ? Op.wholeText : codec === Codec.jsonb ? Op.wholeJsonb : Op.nullify;
    // keep_last shows the end of the value: the column's detectors still run over that part
    const uses =
      wholeRule.action.kind === "keep_last"
        ? detectorUses(
            covering.filter((r) => r.detector),
            typeName,
          )
        : [];
    return { ...detectPlan(op, uses), whole: wholeRule.action, json };
  }
  let uses = detectorUses(covering, typeName);
  if (uses.length === 0) return undefined;
  if (isInertType(col.format, col.typeOid, typeName)) {
    // dates, numbers, uuids … cannot hold detectable content; custom patterns still see their text form
    if (col.format !== 0) return undefined;
    uses = uses.filter((u) => u.detector.kind === "custom");
    if (uses.length === 0) return undefined;
  }
  switch (codec) {
    case Codec.text:
      return detectPlan(Op.detectText, uses);
    case Codec.jsonb:
      return detectPlan(Op.detectJsonb, uses);
    case Codec.integer:
      return detectPlan(Op.detectInteger, uses);
    default:
      return { ...detectPlan(Op.nullify, []), whole: undefined };
  }
}

/** Plans for every column, or undefined when no column needs masking. */
export function planColumns(
  rules: readonly CompiledRule[],
  columns: readonly ResultColumn[],
  names: CatalogNames,
): (ColumnPlan | undefined)[] | undefined {
  const plans = columns.map((c) => planColumn(rules, c, names));
  return plans.some((p) => p !== undefined) ? plans : undefined;
}
