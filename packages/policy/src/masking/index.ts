export { compileMasking } from "./compile";
export { MaskingError, type MaskingErrorCode } from "./errors";
export { MaskTally } from "./mask-tally";
export { RowArena } from "./row-arena";
export { MAX_MESSAGE_TEXT } from "./text-masker";
export type {
  CatalogNames,
  MaskCounts,
  MaskingOptions,
  MaskingPlan,
  ResultColumn,
  RowMasker,
  TextMasker,
} from "./types";
