export { compileMasking } from "./compile";
export { MaskingError, type MaskingErrorCode } from "./errors";
export { MaskTally } from "./mask-tally";
export { RowArena } from "./row-arena";
export type { CatalogNames, MaskCounts, MaskingOptions, MaskingPlan, ResultColumn, RowMasker } from "./types";
