import { Feature } from "../byte-scan";
import type { Detector } from "./detector";

/** Local-part characters accepted left of '@' (the common subset, no quotes or braces). */
const local = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
  local[ch.charCodeAt(0)] = 1;

/** Host labels (1–63 characters, no leading or trailing '-'), then an alphabetic TLD. */
const domain = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,10}[A-Za-z]{2,24}/y;
const MAX_LOCAL = 64;

/**
 * `local@host.tld`. Anchored on each '@' and bounded on both sides, so the cost is
 * linear in the value length whatever the input.
 */
export const emailDetector: Detector = {
  kind: "email",
  needs: Feature.at,
  asciiOnly: true,
  find(text, out) {
    let from = 0;
    for (let at = text.indexOf("@", from); at >= 0; at = text.indexOf("@", from)) {
      from = at + 1;
      let start = at;
      while (start > 0 && at - start < MAX_LOCAL) {
        const c = text.charCodeAt(start - 1);
        if (c >= 128 || local[c] !== 1) break;
        start--;
      }
      while (start < at && text.charCodeAt(start) === 46) start++; // no leading '.'
      if (start === at) continue;
      domain.lastIndex = at + 1;
      if (!domain.test(text)) continue;
      out.push(start, domain.lastIndex);
      from = domain.lastIndex;
    }
  },
};
