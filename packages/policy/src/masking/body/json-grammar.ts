import { REDACTED } from "../actions";
import { MaskingError } from "../errors";

/** Longest string or number value a masker inspects; a longer one it must inspect is redacted whole. */
export const MAX_JSON_VALUE = 1024 * 1024;
/** Longest object key (keys are read to follow paths); a longer one is an error. */
export const MAX_JSON_KEY = 64 * 1024;
/** Deepest nesting of objects and arrays; deeper is an error. */
export const MAX_JSON_DEPTH = 512;

/** A streaming masker over bytes: output for each chunk as it arrives, and what is left at the end. */
export interface ChunkMasker {
  write(chunk: Buffer): Buffer | undefined;
  end(): Buffer | undefined;
}

/** What a value masked whole by `redact` becomes in JSON. */
export const REDACTED_JSON = Buffer.from(JSON.stringify(REDACTED));

/*
 * Number grammar as a table: NUMBER_GRAMMAR[state * 256 + byte] is the next state, -1 ends the
 * number. States: 0 start, 1 '-', 2 leading 0, 3 integer digits, 4 '.', 5 fraction
 * digits, 6 'e', 7 exponent sign, 8 exponent digits.
 */
export const NUMBER_GRAMMAR = new Int8Array(9 * 256).fill(-1);
export const ACCEPTS_NUMBER = [false, false, true, true, false, true, false, false, true];
for (let d = 0x30; d <= 0x39; d++) {
  NUMBER_GRAMMAR[0 * 256 + d] = d === 0x30 ? 2 : 3;
  NUMBER_GRAMMAR[1 * 256 + d] = d === 0x30 ? 2 : 3;
  for (const s of [3, 4, 5]) NUMBER_GRAMMAR[s * 256 + d] = s === 3 ? 3 : 5;
  for (const s of [6, 7, 8]) NUMBER_GRAMMAR[s * 256 + d] = 8;
}
NUMBER_GRAMMAR[0 * 256 + 0x2d] = 1;
for (const s of [2, 3]) NUMBER_GRAMMAR[s * 256 + 0x2e] = 4;
for (const s of [2, 3, 5]) NUMBER_GRAMMAR[s * 256 + 0x65] = NUMBER_GRAMMAR[s * 256 + 0x45] = 6;
NUMBER_GRAMMAR[6 * 256 + 0x2b] = NUMBER_GRAMMAR[6 * 256 + 0x2d] = 7;

export const LITERALS: Record<number, string> = { 116: "true", 102: "false", 110: "null" };

export function malformed(detail: string, offset: number): never {
  throw new MaskingError("malformed_body", `malformed JSON body at byte ${offset}: ${detail}`);
}
