import type { MaskingRule } from "../rules";
import { createHasher } from "./actions";
import { compileBodyPlan } from "./body/body-plan";
import { planColumns } from "./column-plan";
import { compileRule } from "./compiled-rule";
import { MaskingError } from "./errors";
import { isBuiltinTypeName } from "./pg-types";
import { createRowMasker } from "./row-masker";
import { createTextMasker } from "./text-masker";
import type { MaskingOptions, MaskingPlan } from "./types";

/**
 * Compiles masking rules once per policy set. Throws `MaskingError` (`invalid_rule`) for
 * a rule that is invalid or ambiguous; the agent then fails closed.
 */
export function compileMasking(rules: readonly MaskingRule[], opts: MaskingOptions): MaskingPlan {
  const compiled = rules.map(compileRule);
  if (
    compiled.some((r) => r.action.kind === "hash") &&
    !(Buffer.isBuffer(opts.hashKey) && opts.hashKey.length >= 16)
  ) {
    throw new MaskingError("invalid_rule", "hash masking rules need a hash key of at least 16 bytes");
  }
  const hasher = createHasher(opts.hashKey ?? Buffer.alloc(0));
  const tables = new Set(compiled.flatMap((r) => r.tables?.map((t) => t.text) ?? []));
  const types = new Set(compiled.flatMap((r) => [...(r.types ?? [])].filter((t) => !isBuiltinTypeName(t))));
  if (compiled.length > 0) types.add("citext");
  return {
    tables: [...tables],
    types: [...types],
    empty: compiled.length === 0,
    body: compileBodyPlan(compiled, hasher),
    forColumns(columns, names, totals) {
      if (compiled.length === 0) return undefined;
      const plans = planColumns(compiled, columns, names);
      return plans ? createRowMasker(plans, hasher, totals) : undefined;
    },
    textMasker(totals) {
      return createTextMasker(compiled, hasher, totals);
    },
  };
}
