import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { type CliContext, outputFormat } from "../context";
import { compact, intParser } from "../flags";
import { col, formatValue, isRecord, type Row, renderDetails, renderJson } from "../output";
import { expectShape, type ListSpec, printList } from "../print";
import { formatDuration, outcomeLine, type ReviewView, reviewersLine, reviewShape } from "./request";

const nameOf = (value: unknown) => (isRecord(value) && typeof value.name === "string" ? value.name : value);

/** What the review is about: the access window, or the start of the statement. */
function subject(_: unknown, row: Row): unknown {
  if (row.kind === "access") {
    return typeof row.durationSeconds === "number"
      ? `access for ${formatDuration(row.durationSeconds)}`
      : "access";
  }
  return typeof row.statement === "string" ? row.statement : "statement";
}

const reviewList: ListSpec = {
  plural: "reviews",
  columns: [
    col("ID", "id"),
    col("KIND", "kind"),
    col("STATUS", "status"),
    col("CONNECTION", "connection", nameOf),
    col("REQUESTER", "requester", nameOf),
    col("APPROVALS", "approvals", (v, row) => `${formatValue(v)}/${formatValue(row.minApprovals)}`),
    col("WHAT", "kind", subject),
    col("EXPIRES", "expiresAt"),
    col("CREATED", "createdAt"),
  ],
};

interface ListFlags {
  status?: string;
  kind?: string;
  connection?: string;
  mine?: boolean;
  toReview?: boolean;
  limit?: number;
}

/** A review for `reviews show`: people and connection by name, decisions one per line below. */
function details(r: ReviewView): Row {
  const out: Row = {
    id: r.id,
    kind: r.kind,
    status: r.status,
    connection: r.connection.name,
    requester: r.requester.name,
    reason: r.reason,
  };
  if (r.kind === "access") {
    out.duration = r.durationSeconds === null ? null : formatDuration(r.durationSeconds);
    out.accessUntil = r.accessUntil;
    out.active = r.active;
  } else {
    out.session = r.sessionId;
    out.rule = r.ruleName;
    out.statementHash = r.statementHash;
  }
  out.reviewers = reviewersLine(r);
  out.approvals = `${r.approvals} of ${r.minApprovals}`;
  out.expiresAt = r.expiresAt;
  out.decidedAt = r.decidedAt;
  if (r.kind === "statement") out.consumedAt = r.consumedAt;
  out.url = r.url;
  return out;
}

function decisionLines(r: ReviewView): string[] {
  return r.decisions.map(
    (d) => `  ${formatValue(d.at)}  ${d.name} ${d.decision}${d.comment ? `: ${d.comment}` : ""}`,
  );
}

function showReview(ctx: CliContext, r: ReviewView): void {
  const lines = [renderDetails(details(r)).trimEnd()];
  if (r.decisions.length > 0) lines.push("decisions:", ...decisionLines(r));
  if (typeof r.statement === "string") {
    lines.push("statement:", ...r.statement.split("\n").map((l) => `  ${l}`));
  }
  if (r.canDecide === true) {
    lines.push(
      `you may decide: sluice reviews approve ${r.id}  |  sluice reviews deny ${r.id} --comment "…"`,
    );
  }
  ctx.io.stdout(`${lines.join("\n")}\n`);
}

type Verb = "approve" | "deny" | "revoke";

function afterDecision(verb: Verb, r: ReviewView): string {
  if (verb === "approve" && r.status === "pending") {
    return `approved review ${r.id}: ${r.approvals} of ${r.minApprovals} approvals, it waits for more`;
  }
  if (verb === "revoke") {
    const ends =
      r.kind === "access"
        ? `; ${r.requester.name}'s live sessions on ${r.connection.name} are being ended`
        : "";
    return `revoked review ${r.id}${ends}`;
  }
  return `review ${r.id} ${outcomeLine(r)}`;
}

function addDecisionCommand(group: Command, ctx: CliContext, verb: Verb, description: string): void {
  group
    .command(verb)
    .description(description)
    .argument("<id>", "review id")
    .option("--comment <text>", "a note for the requester and the audit log")
    .action(async (id: string, flags: { comment?: string }, cmd: Command) => {
      const client = await ctx.client();
      const res = await client.post(apiPath("reviews", id, verb), compact({ comment: flags.comment }));
      const review = expectShape(reviewShape, res, "a review");
      ctx.io.stdout(outputFormat(cmd) === "json" ? renderJson(res) : `${afterDecision(verb, review)}\n`);
    });
}

export function registerReviewsCommands(program: Command, ctx: CliContext): void {
  const group = program
    .command("reviews")
    .description("list, inspect and decide access requests and held statements");

  group
    .command("list")
    .description("reviews you asked for or may decide (all of them for admins and auditors), newest first")
    .option("--status <status>", "pending, approved, denied, expired or revoked")
    .option("--kind <kind>", "access or statement")
    .option("--connection <name>", "only reviews of this connection")
    .option("--mine", "only reviews you asked for")
    .option("--to-review", "only pending reviews you may approve or deny now")
    .option("--limit <n>", "at most this many reviews", intParser(1, 500))
    .action(async (flags: ListFlags, cmd: Command) => {
      const client = await ctx.client();
      const query = new URLSearchParams(
        Object.entries(compact({ ...flags })).map(([k, v]) => [k, String(v)] as [string, string]),
      ).toString();
      const payload = await client.get(`${apiPath("reviews")}${query ? `?${query}` : ""}`);
      printList(ctx.io, outputFormat(cmd), payload, reviewList);
    });

  group
    .command("show")
    .description("show a review: who asked, why, the statement, and every decision")
    .argument("<id>", "review id")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      const res = await client.get(apiPath("reviews", id));
      if (outputFormat(cmd) === "json") {
        ctx.io.stdout(renderJson(res));
        return;
      }
      showReview(ctx, expectShape(reviewShape, res, "a review"));
    });

  addDecisionCommand(group, ctx, "approve", "approve a pending review (members of its reviewer groups)");
  addDecisionCommand(group, ctx, "deny", "deny a pending review; one denial decides it");
  addDecisionCommand(
    group,
    ctx,
    "revoke",
    "withdraw a request, or take back an approval; revoked access ends the requester's live sessions",
  );
}
