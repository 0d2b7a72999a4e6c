import { Feature } from "../byte-scan";
import { type Detector, mergeOverlaps, scanRegex } from "./detector";

const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
/** Dotted quad, each octet 0–255 without leading zeros, not part of a longer dotted number. */
const ipv4 = new RegExp(`(?<![0-9.])(?:${octet}\\.){3}${octet}(?![0-9]|\\.[0-9])`, "g");
const ipv4Exact = new RegExp(`^(?:${octet}\\.){3}${octet}$`);

/** Runs of hex digits and colons (with at least two colons), optionally ending in a dotted quad. */
const ipv6Candidate =
  /(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![0-9A-Za-z:]|\.[0-9])/g;
const hexGroup = /^[0-9A-Fa-f]{1,4}$/;

function groupsValid(part: string): number {
  if (part === "") return 0;
  const groups = part.split(":");
  for (const g of groups) if (!hexGroup.test(g)) return -1;
  return groups.length;
}

/**
 * A full (8 groups) or compressed ('::' once, fewer groups) IPv6 address, optionally with
 * an embedded IPv4 tail (worth two groups). Addresses without any decimal digit
 * (`a::b`, `Foo::Bar`) are left alone: they are far more often code than addresses.
 */
export function isIpv6(s: string): boolean {
  if (!/[0-9]/.test(s)) return false;
  let head = s;
  let tailGroups = 0;
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!ipv4Exact.test(tail)) return false;
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith("::")) head = head.slice(0, -1);
    tailGroups = 2;
  }
  const dbl = head.indexOf("::");
  if (dbl < 0) return groupsValid(head) + tailGroups === 8;
  if (head.indexOf("::", dbl + 1) >= 0) return false;
  const left = groupsValid(head.slice(0, dbl));
  const right = groupsValid(head.slice(dbl + 2));
  return left >= 0 && right >= 0 && left + right + tailGroups <= 7;
}

export const ipAddressDetector: Detector = {
  kind: "ip_address",
  needs: Feature.dots3 | Feature.colons2,
  asciiOnly: true,
  find(text, out) {
    const from = out.length;
    scanRegex(ipv4, text, out);
    scanRegex(ipv6Candidate, text, out, (m) => (isIpv6(m[0]) ? m.index + m[0].length : -1));
    mergeOverlaps(out, from);
  },
};
