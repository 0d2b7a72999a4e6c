import { z } from "zod";
import { CliError, ExitCode } from "./errors";
import { formatTimestamp } from "./shape";

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `90s`, `30m`, `1h`, `1h30m` or `2d` into seconds (at least one minute). */
export function parseDuration(value: string): number {
  const text = value.trim().toLowerCase();
  if (!/^(\d{1,6}[smhd])+$/.test(text)) {
    throw new CliError("use a duration such as 30m, 1h, 1h30m or 2d", { exitCode: ExitCode.usage });
  }
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g))
    seconds += Number(n) * (units[unit as string] ?? 0);
  if (seconds < 60) throw new CliError("must be at least 1m", { exitCode: ExitCode.usage });
  return seconds;
}

/** Seconds as a short duration: 5400 → `1h30m`. */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("") || "0s";
}

/** The fields of a review Sluice's clients rely on; everything else passes through as sent. */
export const reviewShape = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.string(),
    connection: z.object({ name: z.string() }),
    requester: z.object({ name: z.string() }),
    requiredGroups: z.array(z.string()),
    minApprovals: z.number(),
    approvals: z.number(),
    decisions: z.array(
      z.object({ name: z.string(), decision: z.string(), comment: z.string().nullable(), at: z.string() }),
    ),
    durationSeconds: z.number().nullable(),
    accessUntil: z.string().nullable(),
    expiresAt: z.string(),
    url: z.string(),
  })
  .passthrough();
export type ReviewView = z.infer<typeof reviewShape>;

/** Who must decide, e.g. `members of dba (2 approvals needed)`. */
export function reviewersLine(r: ReviewView): string {
  const n = r.minApprovals === 1 ? "1 approval" : `${r.minApprovals} approvals`;
  return `members of ${r.requiredGroups.join(", ")} (${n} needed, never the requester)`;
}

const when = (value: string | null) => (value ? formatTimestamp(value) : "-");

/** Why a review ended the way it did, from its last decision. */
export function outcomeLine(r: ReviewView): string {
  const last = r.decisions.at(-1);
  const by =
    last && r.status !== "expired" ? ` by ${last.name}${last.comment ? `: ${last.comment}` : ""}` : "";
  switch (r.status) {
    case "approved":
      return r.kind === "access"
        ? `approved${by}; you may use ${r.connection.name} until ${when(r.accessUntil)}`
        : `approved${by}`;
    case "expired":
      return `expired at ${when(r.expiresAt)} without a decision`;
    default:
      return `${r.status}${by}`;
  }
}
