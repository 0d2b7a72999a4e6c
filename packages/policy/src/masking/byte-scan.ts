/**
 * One cheap pass over a value's bytes that records which detectors could possibly match
 * (prefilters). A detector runs its regexes only when a feature it needs is present, so
 * values with no '@', no long digit run, no key marker … are never decoded to a string.
 * Features are supersets: they may fire for values a detector then rejects, never the
 * other way round (a property test checks this for every built-in detector).
 */
export const Feature = {
  /** An '@' (email). */
  at: 1 << 0,
  /** A run of ≥ 8 digits, separators allowed (phone). */
  digits8: 1 << 1,
  /** A run of ≥ 9 digits, separators allowed (SSN). */
  digits9: 1 << 2,
  /** A run of ≥ 13 digits, separators allowed (card numbers). */
  digits13: 1 << 3,
  /** Two letters then two digits at the start of a word (IBAN country code and check digits). */
  letters2digits2: 1 << 4,
  /** At least three '.' (IPv4). */
  dots3: 1 << 5,
  /** At least two ':' (IPv6). */
  colons2: 1 << 6,
  /** An API-key marker: AKIA, ASIA, AIz, gh?_, hub_, ive_, xox, sk-, ----. */
  keyMarker: 1 << 7,
  /** "eyJ", the base64url of '{"' (JWT). */
  jwtMarker: 1 << 8,
  /** A byte ≥ 0x80 (the value is not plain ASCII). */
  nonAscii: 1 << 9,
  /** The value is not empty (custom patterns have no prefilter). */
  nonEmpty: 1 << 10,
} as const;

/*
 * The loop is branch-free for all but rare bytes: one table load per byte gives a class
 * word, and every feature is accumulated with arithmetic. Class word layout:
 *   bit 0      digit
 *   bit 1      keeps a digit run going (digit, space - . ( ) / +)
 *   bits 2–3   shape class: 1 digit, 2 letter, 3 anything else (word boundary)
 *   bits 4–11  '.' counter increment    bits 12–19  ':' counter increment
 *   bit 20 '@'   bit 21 byte ≥ 0x80   bit 22 last byte of a key/JWT marker
 */
const DIGIT = 1;
const KEEP = 2;
const DOT = 1 << 4;
const COLON = 1 << 12;
const COUNTS = 0xfffff0;
const AT = 1 << 20;
const HIGH = 1 << 21;
const MARKER_END = 1 << 22;

const classes = new Int32Array(256);
for (let b = 0; b < 256; b++) {
  const ch = String.fromCharCode(b);
  const digit = b >= 0x30 && b <= 0x39;
  const letter = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
  let c = (digit ? 1 : letter ? 2 : 3) << 2;
  if (digit) c |= DIGIT | KEEP;
  if (" -.()/+".includes(ch)) c |= KEEP;
  if (b === 0x2e) c |= DOT;
  if (b === 0x3a) c |= COLON;
  if (b === 0x40) c |= AT;
  if (b >= 0x80) c |= HIGH;
  if ("Az_x-J".includes(ch)) c |= MARKER_END;
  classes[b] = c;
}

/** Digit-run thresholds by run length (runs are counted modulo 64; the flags are set on the way up). */
const runFeatures = new Int32Array(64);
for (let r = 0; r < 64; r++) {
  runFeatures[r] =
    (r >= 8 ? Feature.digits8 : 0) | (r >= 9 ? Feature.digits9 : 0) | (r >= 13 ? Feature.digits13 : 0);
}

/** The last five shape classes, 2 bits each: boundary, letter, letter, digit, digit. */
const SHAPE_BLLDD = (3 << 8) | (2 << 6) | (2 << 4) | (1 << 2) | 1;
const shapeFeatures = new Int32Array(1024);
shapeFeatures[SHAPE_BLLDD] = Feature.letters2digits2;

const word = (s: string) => {
  let w = 0;
  for (let i = 0; i < s.length; i++) w = (w << 8) | s.charCodeAt(i);
  return w;
};
const markers4 = new Map<number, number>([
  [word("AKIA"), Feature.keyMarker],
  [word("ASIA"), Feature.keyMarker],
  [word("----"), Feature.keyMarker],
  ...["ghp_", "gho_", "ghs_", "ghu_", "ghr_", "hub_", "ive_"].map((m): [number, number] => [
    word(m),
    Feature.keyMarker,
  ]),
]);
const markers3 = new Map<number, number>([
  [word("AIz"), Feature.keyMarker],
  [word("xox"), Feature.keyMarker],
  [word("sk-"), Feature.keyMarker],
  [word("eyJ"), Feature.jwtMarker],
]);

/** Features of a marker ending at `buf[i]` (a rare byte, so this runs rarely). */
function markerAt(buf: Uint8Array, start: number, i: number): number {
  if (i - 2 < start) return 0;
  const w3 = (buf[i - 2]! << 16) | (buf[i - 1]! << 8) | buf[i]!;
  const f = markers3.get(w3) ?? 0;
  if (i - 3 < start) return f;
  return f | (markers4.get((buf[i - 3]! << 24) | w3) ?? 0);
}

/** Longer values may overflow the 8-bit '.' and ':' counters: they always get both features. */
const COUNTED_MAX = 255;

/** Features of `buf[start, end)`. */
export type Scanner = (buf: Uint8Array, start: number, end: number) => number;

/** at, digit runs, nonAscii, nonEmpty: one table load and a few integer operations per byte. */
export const scanLight: Scanner = (buf, start, end) => {
  if (end <= start) return 0;
  let flags = 0;
  let found: number = Feature.nonEmpty;
  let run = 0;
  for (let i = start; i < end; i++) {
    const c = classes[buf[i]!]!;
    run = (run + (c & DIGIT)) & -((c >> 1) & 1) & 63;
    found |= runFeatures[run]!;
    flags |= c;
  }
  if ((flags & AT) !== 0) found |= Feature.at;
  if ((flags & HIGH) !== 0) found |= Feature.nonAscii;
  return found;
};

/** Every feature, including the IBAN shape, the '.'/':' counts and the key markers. */
export const scanFull: Scanner = (buf, start, end) => {
  if (end <= start) return 0;
  let flags = 0;
  let counts = 0;
  let found: number = Feature.nonEmpty;
  let run = 0;
  let shape = 3;
  for (let i = start; i < end; i++) {
    const c = classes[buf[i]!]!;
    run = (run + (c & DIGIT)) & -((c >> 1) & 1) & 63;
    shape = ((shape << 2) | ((c >> 2) & 3)) & 0x3ff;
    found |= runFeatures[run]! | shapeFeatures[shape]!;
    flags |= c;
    counts += c & COUNTS;
    if ((c & MARKER_END) !== 0) found |= markerAt(buf, start, i);
  }
  if ((flags & AT) !== 0) found |= Feature.at;
  if ((flags & HIGH) !== 0) found |= Feature.nonAscii;
  if (end - start > COUNTED_MAX) return found | Feature.dots3 | Feature.colons2;
  if (((counts >> 4) & 0xff) >= 3) found |= Feature.dots3;
  if (((counts >> 12) & 0xff) >= 2) found |= Feature.colons2;
  return found;
};

const LIGHT =
  Feature.at | Feature.digits8 | Feature.digits9 | Feature.digits13 | Feature.nonAscii | Feature.nonEmpty;

/** The cheapest scanner that computes every feature in `needs`. */
export function scannerFor(needs: number): Scanner {
  return (needs & ~LIGHT) === 0 ? scanLight : scanFull;
}

/** All features of `buf[start, end)`. */
export function scanFeatures(buf: Uint8Array, start: number, end: number): number {
  return scanFull(buf, start, end);
}
