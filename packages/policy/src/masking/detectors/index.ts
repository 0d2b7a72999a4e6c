import type { MaskingDetector } from "../../rules";
import { apiKeyDetector } from "./api-key";
import { creditCardDetector } from "./credit-card";
import { createCustomDetector } from "./custom";
import type { Detector } from "./detector";
import { emailDetector } from "./email";
import { ibanDetector } from "./iban";
import { ipAddressDetector } from "./ip-address";
import { jwtDetector } from "./jwt";
import { phoneDetector } from "./phone";
import { usSsnDetector } from "./us-ssn";

export type { Detector } from "./detector";

const builtins: Record<Exclude<MaskingDetector, "custom">, Detector> = {
  email: emailDetector,
  credit_card: creditCardDetector,
  iban: ibanDetector,
  phone: phoneDetector,
  us_ssn: usSsnDetector,
  ip_address: ipAddressDetector,
  jwt: jwtDetector,
  api_key: apiKeyDetector,
};

/** The detector of a rule; `custom` compiles the rule's pattern. */
export function createDetector(
  kind: MaskingDetector,
  pattern: string | undefined,
  ruleName: string,
): Detector {
  if (kind === "custom") return createCustomDetector(pattern ?? "", ruleName);
  return builtins[kind];
}
