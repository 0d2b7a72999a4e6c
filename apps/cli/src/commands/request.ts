import { type Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import { apiPath } from "../api-client";
import { CliError } from "../cli-error";
import { type CliContext, outputFormat } from "../context";
import { intParser } from "../flags";
import { formatValue, renderJson } from "../output";
import { expectShape } from "../print";

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses `90s`, `30m`, `1h`, `1h30m` or `2d` into seconds. For commander's argParser. */
export function parseDuration(value: string): number {
  const text = value.trim().toLowerCase();
  if (!/^(\d{1,6}[smhd])+$/.test(text)) {
    throw new InvalidArgumentError("use a duration such as 30m, 1h, 1h30m or 2d");
  }
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g))
    seconds += Number(n) * (units[unit as string] ?? 0);
  if (seconds < 60) throw new InvalidArgumentError("must be at least 1m");
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

/** The fields of a review the CLI relies on; everything else is shown as the control plane sends it. */
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

/** Why a review ended the way it did, from its last decision. */
export function outcomeLine(r: ReviewView): string {
  const last = r.decisions.at(-1);
  const by =
    last && r.status !== "expired" ? ` by ${last.name}${last.comment ? `: ${last.comment}` : ""}` : "";
  switch (r.status) {
    case "approved":
      return r.kind === "access"
        ? `approved${by}; you may use ${r.connection.name} until ${formatValue(r.accessUntil)}`
        : `approved${by}`;
    case "expired":
      return `expired at ${formatValue(r.expiresAt)} without a decision`;
    default:
      return `${r.status}${by}`;
  }
}

interface RequestFlags {
  for: number;
  reason: string;
  wait: boolean;
  pollMs: number;
}

/** Resolves to the decided review, or undefined when the user stops waiting (Ctrl-C or `io.stop`). */
async function waitForDecision(ctx: CliContext, id: string, pollMs: number): Promise<ReviewView | undefined> {
  const client = await ctx.client();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  ctx.io.stop?.addEventListener("abort", onSignal, { once: true });
  if (!ctx.io.stop) process.once("SIGINT", onSignal);
  try {
    while (!stop.signal.aborted) {
      const review = expectShape(reviewShape, await client.get(apiPath("reviews", id)), "a review");
      if (review.status !== "pending") return review;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          stop.signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, pollMs);
        stop.signal.addEventListener("abort", done, { once: true });
      });
    }
    return undefined;
  } finally {
    ctx.io.stop?.removeEventListener("abort", onSignal);
    process.off("SIGINT", onSignal);
  }
}

export function registerRequestCommand(program: Command, ctx: CliContext): void {
  program
    .command("request")
    .description("ask for just-in-time access to a connection that requires approval")
    .argument("<connection>", "connection name or id")
    .requiredOption("--for <duration>", "how long you need access, e.g. 30m, 1h, 1h30m", parseDuration)
    .requiredOption("--reason <text>", "why you need access; reviewers see it")
    .option("--wait", "wait until a reviewer decides; exit 1 unless approved", false)
    .addOption(new Option("--poll-ms <ms>").argParser(intParser(50, 60_000)).default(2000).hideHelp())
    .action(async (connection: string, flags: RequestFlags, cmd: Command) => {
      const format = outputFormat(cmd);
      const client = await ctx.client();
      const body = { connection, durationSeconds: flags.for, reason: flags.reason };
      const created = expectShape(reviewShape, await client.post(apiPath("reviews"), body), "a review");
      if (format !== "json" || !flags.wait) {
        if (format === "json") ctx.io.stdout(renderJson(created));
        else {
          ctx.io.stdout(
            [
              `requested access to ${created.connection.name} for ${formatDuration(flags.for)}: review ${created.id} (pending)`,
              `reviewers: ${reviewersLine(created)}`,
              `they approve with: sluice reviews approve ${created.id}`,
              `or deny with:      sluice reviews deny ${created.id} --comment "…"`,
              `expires unless decided by ${formatValue(created.expiresAt)}; details: ${created.url}`,
              "",
            ].join("\n"),
          );
        }
      }
      if (!flags.wait) return;
      if (format !== "json")
        ctx.io.stderr("waiting for a decision (Ctrl-C stops waiting; the request stays open)…\n");
      const decided = await waitForDecision(ctx, created.id, flags.pollMs);
      if (!decided) {
        throw new CliError(`stopped waiting; review ${created.id} is still pending`);
      }
      if (format === "json") ctx.io.stdout(renderJson(decided));
      if (decided.status !== "approved") {
        throw new CliError(`review ${decided.id} ${outcomeLine(decided)}`, { silent: format === "json" });
      }
      if (format !== "json") ctx.io.stdout(`review ${decided.id} ${outcomeLine(decided)}\n`);
    });
}
