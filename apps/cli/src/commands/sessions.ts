import { apiPath } from "@sluice/client";
import { type Command, InvalidArgumentError } from "commander";
import { type CliContext, outputFormat } from "../context";
import { compact, intParser } from "../flags";
import { formatValue, renderDetails, renderJson } from "../output";
import { expectObject, printList } from "../print";
import { sessionDetails, sessionsFor } from "../resources";
import { fetchAllEvents } from "../sessions/events";
import { replayEvents } from "../sessions/replay";

interface ListFlags {
  connection?: string;
  status?: string;
  limit?: number;
}

interface ReplayFlags {
  speed: number;
  timing: boolean;
}

function parseSpeed(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("must be a number above 0, e.g. 2 or 0.5");
  return n;
}

export function registerSessionsCommands(program: Command, ctx: CliContext): void {
  const group = program.command("sessions").description("list, inspect and replay recorded sessions");

  group
    .command("list")
    .description("list sessions, newest first")
    .option("--connection <name>", "only sessions of this connection")
    .option("--status <status>", "pending, active, closed or failed")
    .option("--limit <n>", "at most this many sessions", intParser(1, 1000))
    .action(async (flags: ListFlags, cmd: Command) => {
      const client = await ctx.client();
      const query = new URLSearchParams(
        Object.entries(compact({ ...flags })).map(([k, v]) => [k, String(v)] as [string, string]),
      ).toString();
      const payload = await client.get(`${apiPath("sessions")}${query ? `?${query}` : ""}`);
      printList(ctx.io, outputFormat(cmd), payload, sessionsFor(payload));
    });

  group
    .command("show")
    .description("show a session and how many events it recorded")
    .argument("<id>", "session id")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      const session = expectObject(await client.get(apiPath("sessions", id)));
      const eventCount = (await fetchAllEvents(client, id)).length;
      if (outputFormat(cmd) === "json") {
        ctx.io.stdout(renderJson({ ...session, eventCount }));
        return;
      }
      ctx.io.stdout(renderDetails(sessionDetails(session, eventCount)));
    });

  group
    .command("replay")
    .description("print a recorded session's statements and results in order, at the recorded pace")
    .argument("<id>", "session id")
    .option("--speed <factor>", "replay this many times faster", parseSpeed, 1)
    .option("--no-timing", "print everything at once, without waiting between events")
    .action(async (id: string, flags: ReplayFlags, cmd: Command) => {
      const client = await ctx.client();
      const session = expectObject(await client.get(apiPath("sessions", id)));
      const events = await fetchAllEvents(client, id);
      if (outputFormat(cmd) === "json") {
        ctx.io.stdout(renderJson(events));
        return;
      }
      const details = sessionDetails(session, events.length);
      const header = [
        `session ${formatValue(details.id)}: ${formatValue(details.user)} on ${formatValue(details.connection)}`,
        `via ${formatValue(details.agent)} (${formatValue(details.protocol)}, ${formatValue(details.status)}),`,
        `started ${formatValue(details.startedAt)}, ${events.length} events`,
      ].join(" ");
      ctx.io.stdout(`${header}\n`);
      const skipped = await replayEvents(events, {
        speed: flags.speed,
        timing: flags.timing,
        write: (text) => ctx.io.stdout(text),
      });
      if (skipped.size > 0) {
        const kinds = [...skipped].map(([kind, n]) => `${kind} ×${n}`).join(", ");
        ctx.io.stderr(`skipped events this CLI cannot show: ${kinds}\n`);
      }
    });
}
