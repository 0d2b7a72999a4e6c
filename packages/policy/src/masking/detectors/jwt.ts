import { Feature } from "../byte-scan";
import { type Detector, scanRegex } from "./detector";

/** JWS (3 segments) or JWE (5 segments), base64url, the header starting `eyJ` ('{"'). */
const token =
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,8192}\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,8192}(?:\.[A-Za-z0-9_-]{0,65536}\.[A-Za-z0-9_-]{0,8192})?/g;

/** The header segment decodes to a JSON object with a string `alg`. */
export function jwtHeaderValid(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return (
      typeof header === "object" && header !== null && typeof (header as { alg?: unknown }).alg === "string"
    );
  } catch {
    return false;
  }
}

export const jwtDetector: Detector = {
  kind: "jwt",
  needs: Feature.jwtMarker,
  asciiOnly: true,
  find(text, out) {
    scanRegex(token, text, out, (m) => {
      const dot = m[0].indexOf(".");
      return jwtHeaderValid(m[0].slice(0, dot)) ? m.index + m[0].length : -1;
    });
  },
};
