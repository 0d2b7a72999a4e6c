import { Feature } from "../byte-scan";
import { type Detector, scanRegex } from "./detector";

/** 13–19 digits, single spaces or dashes between them, starting with a card-issuer digit. */
const candidate = /(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])/g;

/** Luhn check over the first `n` digits of `d` (digit values, not characters). */
function luhn(d: Uint8Array, n: number): boolean {
  let sum = 0;
  for (let i = n - 1, double = false; i >= 0; i--, double = !double) {
    let v = d[i]!;
    if (double) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  return sum % 10 === 0;
}

export function luhnValid(digits: string): boolean {
  return luhn(
    Uint8Array.from(digits, (c) => c.charCodeAt(0) - 48),
    digits.length,
  );
}

/**
 * Issuer prefixes of the major networks: Visa 4, Mastercard 51–55 and 2221–2720, Mir
 * 2200–2204, Amex 34/37, Diners 30/36/38/39, JCB 35, Discover/UnionPay/Maestro 5x and 6.
 * Numbers starting 0, 1, 7, 8 or 9 (ids, epoch milliseconds) are never cards.
 */
function issuer(d: Uint8Array): boolean {
  switch (d[0]) {
    case 2: {
      const p = d[0] * 1000 + d[1]! * 100 + d[2]! * 10 + d[3]!;
      return (p >= 2200 && p <= 2204) || (p >= 2221 && p <= 2720);
    }
    case 3:
      return d[1]! === 0 || d[1]! >= 4;
    case 4:
    case 5:
    case 6:
      return true;
    default:
      return false;
  }
}

export function issuerValid(digits: string): boolean {
  return issuer(Uint8Array.from(digits, (c) => c.charCodeAt(0) - 48));
}

const digitsOf = new Uint8Array(20);
/** groupEnd[n]: offset after the n-th digit when a digit group ends there, else -1. */
const groupEnd = new Int32Array(21);

/**
 * The longest prefix of the candidate (13–19 digits, ending where a digit group ends)
 * that has a card-issuer prefix and passes the Luhn check; -1 if none.
 */
function acceptCard(m: RegExpExecArray, text: string): number {
  const from = m.index;
  const to = from + m[0].length;
  let n = 0;
  groupEnd.fill(-1);
  for (let i = from; i < to && n < 19; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) continue;
    digitsOf[n++] = c - 48;
    const next = text.charCodeAt(i + 1);
    if (!(next >= 48 && next <= 57)) groupEnd[n] = i + 1;
  }
  if (!issuer(digitsOf)) return -1;
  for (let k = n; k >= 13; k--) {
    if (groupEnd[k]! >= 0 && luhn(digitsOf, k)) return groupEnd[k]!;
  }
  return -1;
}

export const creditCardDetector: Detector = {
  kind: "credit_card",
  needs: Feature.digits13,
  asciiOnly: true,
  find(text, out) {
    // digit runs can be cut into cards in more than one way: find every reading
    scanRegex(candidate, text, out, acceptCard, true);
  },
};
