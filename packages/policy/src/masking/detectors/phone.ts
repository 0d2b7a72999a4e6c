import { Feature } from "../byte-scan";
import { type Detector, mergeOverlaps, scanRegex } from "./detector";

/*
 * Phone numbers need a '+' or separators: a plain run of digits (an id, an amount) is
 * never a phone number. Digit groups end with (?![0-9]) so every split is unique and the
 * scan stays linear.
 */

/** E.164 with optional separators: +<1–15 digits>, groups split by space . / - ( ). */
const international = /(?<![\w+])\+[1-9][0-9]{0,14}(?![0-9])(?:[ ./()-]{1,3}[0-9]{1,8}(?![0-9])){0,6}/g;

/** North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 1-555-123-4567. */
const northAmerican =
  /(?<![\w+.-])(?:1[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}(?![0-9]|[.-][0-9])/g;

/** National numbers with a trunk 0 and separators: 030 12345678, 020 7946 0958, 06.12.34.56.78, 089/1234567. */
const trunk =
  /(?<![\w+./-])\(?0[1-9][0-9]{0,4}\)?[ ./-]{1,2}[0-9]{2,8}(?![0-9])(?:[ ./-][0-9]{2,8}(?![0-9])){0,4}/g;

/** Dates written like phone numbers: 01.02.2024, 2024-01-02, 01/02/24 … */
const dateLike =
  /^\(?[0-9]{1,2}\)?[./-][0-9]{1,2}[./-][0-9]{2,4}(?![0-9]|[./-][0-9])|^[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2}(?![0-9]|[./-][0-9])/;

function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Drops trailing digit groups until at most `max` digits remain; returns the end offset
 * of the shortened match, or -1 when fewer than `min` digits are left.
 */
function fitDigits(m: RegExpExecArray, min: number, max: number): number {
  const s = m[0];
  let digits = 0;
  let lastGroupEnd = 0;
  let best = -1;
  for (let i = 0; i < s.length; i++) {
    if (!isDigitCode(s.charCodeAt(i))) continue;
    digits++;
    if (i + 1 === s.length || !isDigitCode(s.charCodeAt(i + 1))) {
      lastGroupEnd = i + 1;
      if (digits >= min && digits <= max) best = lastGroupEnd;
    }
  }
  return best < 0 ? -1 : m.index + best;
}

function acceptInternational(m: RegExpExecArray): number {
  return fitDigits(m, 8, 15);
}

function acceptTrunk(m: RegExpExecArray): number {
  if (dateLike.test(m[0])) return -1;
  return fitDigits(m, 9, 13);
}

export const phoneDetector: Detector = {
  kind: "phone",
  needs: Feature.digits8,
  asciiOnly: true,
  find(text, out) {
    const from = out.length;
    scanRegex(international, text, out, acceptInternational);
    scanRegex(northAmerican, text, out);
    scanRegex(trunk, text, out, acceptTrunk);
    mergeOverlaps(out, from);
  },
};
