export {
  type BodyMasker,
  type BodyMaskerOptions,
  createBodyMasker,
  MAX_PREVIEW_BYTES,
  maskBodyPreview,
} from "./body/body-masker";
export type { BodyPlan } from "./body/body-plan";
export { type BodyFormat, parseContentType } from "./body/content-type";
export { MAX_JSON_DEPTH, MAX_JSON_KEY, MAX_JSON_VALUE } from "./body/json-grammar";
export { MAX_SSE_LINE } from "./body/sse-masker";
export { MAX_TEXT_LINE, TEXT_OVERLAP } from "./body/text-stream";
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
