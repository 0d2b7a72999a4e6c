import type { Hasher } from "./actions";
import { scannerFor } from "./byte-scan";
import type { ColumnPlan, DetectorUse } from "./column-plan";
import { appliesToColumns, type CompiledRule } from "./compiled-rule";
import type { MaskTally } from "./mask-tally";
import type { TextMasker } from "./types";
import { countKinds, type MaskContext, maskValue, Op } from "./value-masker";

/** Longest text a message masker looks at; the rest of a longer text is cut off (fail closed). */
export const MAX_MESSAGE_TEXT = 64 * 1024;

/**
 * Masks free text that is not a column value (error and notice fields, notification
 * payloads, reported settings): every detector of the plan runs on it, whatever the
 * rule's filters, since nothing tells which column such text came from.
 */
export function createTextMasker(
  rules: readonly CompiledRule[],
  hasher: Hasher,
  totals: MaskTally | undefined,
): TextMasker {
  const uses: DetectorUse[] = [];
  for (const r of rules) {
    const d = r.detector;
    if (!d) continue;
    // a built-in detector runs once (the first rule's action wins); every custom pattern runs
    if (d.kind !== "custom" && uses.some((u) => u.detector === d)) continue;
    uses.push({ detector: d, action: r.action, slot: countKinds.indexOf(d.kind) });
  }
  let needs = 0;
  for (const u of uses) needs |= u.detector.needs;
  const plan: ColumnPlan = {
    op: Op.detectText,
    whole: undefined,
    json: false,
    uses,
    needs,
    scan: scannerFor(needs),
    utf8: uses.some((u) => !u.detector.asciiOnly),
  };
  const ctx: MaskContext = {
    hasher,
    tally: new Float64Array(countKinds.length),
    totals: totals?.slots ?? new Float64Array(countKinds.length),
  };
  return {
    wholeValues: rules.some((r) => r.detector === undefined && appliesToColumns(r)),
    detects: uses.length > 0,
    mask(text) {
      if (uses.length === 0 || text.length === 0) return undefined;
      const cut = text.length > MAX_MESSAGE_TEXT;
      const buf = Buffer.from(cut ? text.slice(0, MAX_MESSAGE_TEXT) : text, "utf8");
      const out = maskValue(plan, buf, 0, buf.length, ctx);
      if (!out) return cut ? buf.toString("utf8") : undefined;
      const bytes = Buffer.allocUnsafe(out.byteLength);
      out.writeTo(bytes, 0);
      return bytes.toString("utf8");
    },
  };
}
