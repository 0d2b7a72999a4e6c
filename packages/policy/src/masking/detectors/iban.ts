import { Feature } from "../byte-scan";
import type { Detector } from "./detector";

/** IBAN length per country (ISO 13616 registry), e.g. DE22 = German IBANs have 22 characters. */
const lengths: Record<string, number> = Object.fromEntries(
  (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 " +
    "DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 " +
    "GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 " +
    "LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 " +
    "PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 " +
    "TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30"
  )
    .split(" ")
    .map((e) => [e.slice(0, 2), Number(e.slice(2))]),
);

const start = /(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}/g;

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** ISO 7064 mod 97-10 over the rearranged IBAN (letters as 10–35): valid when the remainder is 1. */
export function ibanChecksumValid(iban: string): boolean {
  const s = iban.slice(4) + iban.slice(0, 4);
  let r = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 57) r = (r * 10 + (c - 48)) % 97;
    else r = (r * 100 + (c - 55)) % 97;
  }
  return r === 1;
}

/**
 * Reads the IBAN that starts at `from`: exactly the country's length of letters and
 * digits, single spaces or dashes allowed between them, not followed by another letter
 * or digit. Returns its end offset and the compact upper-case form, or undefined.
 */
function readIban(text: string, from: number): { end: number; iban: string } | undefined {
  const want = lengths[text.slice(from, from + 2).toUpperCase()];
  if (want === undefined) return undefined;
  let iban = "";
  let i = from;
  while (iban.length < want && i < text.length) {
    const c = text.charCodeAt(i);
    if (isAlnum(c)) {
      iban += text[i];
      i++;
    } else if (
      (c === 32 || c === 45) &&
      iban.length >= 4 &&
      i + 1 < text.length &&
      isAlnum(text.charCodeAt(i + 1))
    ) {
      i++;
    } else {
      return undefined;
    }
  }
  if (iban.length < want || (i < text.length && isAlnum(text.charCodeAt(i)))) return undefined;
  return { end: i, iban: iban.toUpperCase() };
}

/** Country code + two check digits + BBAN, with the country's exact length and a valid mod-97 checksum. */
export const ibanDetector: Detector = {
  kind: "iban",
  needs: Feature.letters2digits2,
  asciiOnly: true,
  find(text, out) {
    start.lastIndex = 0;
    for (let m = start.exec(text); m !== null; m = start.exec(text)) {
      const found = readIban(text, m.index);
      if (found === undefined || !ibanChecksumValid(found.iban)) {
        start.lastIndex = m.index + 1;
        continue;
      }
      out.push(m.index, found.end);
      start.lastIndex = found.end;
    }
  },
};
