import { Feature } from "../byte-scan";
import { type Detector, scanRegex } from "./detector";

/**
 * `AAA-GG-SSSS` (or with spaces, the same separator twice). Area 000, 666 and 900–999,
 * group 00 and serial 0000 are never issued, so they are not matched; nine digits with
 * no separators are not matched either (too many ids look like that).
 */
const ssn = /(?<![0-9])(?!000|666|9)[0-9]{3}([- ])(?!00)[0-9]{2}\1(?!0000)[0-9]{4}(?![0-9])/g;

export const usSsnDetector: Detector = {
  kind: "us_ssn",
  needs: Feature.digits9,
  asciiOnly: true,
  find(text, out) {
    scanRegex(ssn, text, out);
  },
};
