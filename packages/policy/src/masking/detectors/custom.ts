import { Feature } from "../byte-scan";
import { MaskingError } from "../errors";
import type { Detector } from "./detector";

/**
 * A rule's own pattern, compiled case-insensitively like every Sluice rule regex. A
 * pattern that matches the empty string is rejected at compile time (it would mask
 * nothing or everything). Patterns run on the whole value: keep them free of nested
 * quantifiers, as a backtracking pattern costs the agent CPU on every value it covers.
 */
export function createCustomDetector(pattern: string, ruleName: string): Detector {
  let re: RegExp;
  try {
    re = new RegExp(pattern, "gi");
  } catch (err) {
    throw new MaskingError(
      "invalid_rule",
      `masking rule "${ruleName}": invalid pattern (${(err as Error).message})`,
    );
  }
  if (new RegExp(pattern, "i").test("")) {
    throw new MaskingError("invalid_rule", `masking rule "${ruleName}": pattern matches the empty string`);
  }
  return {
    kind: "custom",
    needs: Feature.nonEmpty,
    asciiOnly: false,
    find(text, out) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const end = m.index + m[0].length;
        if (end === m.index) {
          re.lastIndex = end + 1;
          continue;
        }
        out.push(m.index, end);
      }
    },
  };
}
