import {
  apiPath,
  formatDuration,
  outcomeLine,
  parseDuration as parseSluiceDuration,
  type ReviewView,
  reviewersLine,
  reviewShape,
} from "@sluice/client";
import { type Command, InvalidArgumentError, Option } from "commander";
import { CliError } from "../cli-error";
import { type CliContext, outputFormat } from "../context";
import { intParser } from "../flags";
import { formatValue, renderJson } from "../output";
import { expectShape } from "../print";

/** Parses a duration for commander's argParser. */
export function parseDuration(value: string): number {
  try {
    return parseSluiceDuration(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

export { formatDuration, outcomeLine, type ReviewView, reviewersLine, reviewShape };

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
