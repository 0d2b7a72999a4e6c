import type { MaskCounts } from "./types";
import { countKinds } from "./value-masker";

/**
 * Running counts of masked values (per detector, and `column`) that several maskers add
 * to, e.g. every result set of one session. Counting is one typed-array increment.
 */
export class MaskTally {
  readonly slots = new Float64Array(countKinds.length);

  /** What was counted so far, kinds with a zero count left out. */
  counts(): MaskCounts {
    const out: MaskCounts = {};
    this.slots.forEach((n, slot) => {
      if (n > 0) out[countKinds[slot]!] = n;
    });
    return out;
  }
}
