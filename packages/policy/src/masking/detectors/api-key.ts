import { Feature } from "../byte-scan";
import { type Detector, scanRegex } from "./detector";

/**
 * Well-known credential formats. Each alternative is bounded, so a value costs time
 * linear in its length.
 */
const keys = new RegExp(
  [
    // AWS access key ids (long-term and temporary)
    "(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    // GitHub personal, OAuth, server, user-to-server and refresh tokens; fine-grained PATs
    "(?<![A-Za-z0-9_])gh[opsur]_[A-Za-z0-9]{36,251}",
    "(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}",
    // Slack bot, app, user and refresh tokens
    "(?<![A-Za-z0-9])xox[abpr]-[A-Za-z0-9-]{10,250}",
    // Stripe live secret and restricted keys
    "(?<![A-Za-z0-9])[sr]k_live_[A-Za-z0-9]{16,247}",
    // Google API keys
    "(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}",
    // OpenAI-style secret keys (checked for mixed character classes below)
    "(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,300}",
    // PEM private keys, the whole block (or up to 16 KiB of key material if the END line is missing)
    "-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----(?:[\\s\\S]{0,16384}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----|[A-Za-z0-9+/=\\r\\n\\t \\\\]{0,16384})",
  ].join("|"),
  "g",
);

/**
 * `sk-` is also the start of ordinary slugs (`sk-long-article-title-here`): a key must
 * mix digits, upper- and lower-case letters.
 */
function acceptKey(m: RegExpExecArray): number {
  const s = m[0];
  if (s.startsWith("sk-") && !(/[0-9]/.test(s) && /[A-Z]/.test(s) && /[a-z]/.test(s.slice(3)))) return -1;
  return m.index + s.length;
}

export const apiKeyDetector: Detector = {
  kind: "api_key",
  needs: Feature.keyMarker,
  asciiOnly: true,
  find(text, out) {
    scanRegex(keys, text, out, acceptKey);
  },
};
