import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  apiPath,
  expectShape,
  formatDuration,
  isRecord,
  outcomeLine,
  parseDuration,
  type ReviewView,
  reviewersLine,
  reviewShape,
} from "@sluice/client";
import { z } from "zod";
import { guarded, type McpDeps, ToolError, toolResult } from "./tool-context";

const connectionShape = z.object({ name: z.string(), type: z.string(), description: z.string().nullable() });

/** The connections of a `GET /connections` page as the tool shows them: no hosts, no credentials. */
export function connectionList(payload: unknown): z.infer<typeof connectionShape>[] {
  const items = isRecord(payload) && Array.isArray(payload.items) ? payload.items : [];
  return items.filter(isRecord).map((c) => ({
    name: String(c.name ?? ""),
    type: String(c.type ?? ""),
    description: typeof c.description === "string" && c.description ? c.description : null,
  }));
}

const reviewOutput = {
  id: z.string(),
  kind: z.string(),
  status: z.string().describe("pending, approved, denied, expired or revoked"),
  connection: z.string(),
  requester: z.string(),
  reason: z.string().nullable(),
  approvals: z.number(),
  minApprovals: z.number(),
  reviewers: z.string(),
  decisions: z.array(
    z.object({ name: z.string(), decision: z.string(), comment: z.string().nullable(), at: z.string() }),
  ),
  accessUntil: z.string().nullable(),
  expiresAt: z.string(),
  statement: z.string().optional(),
  url: z.string(),
};

/** A review as tool output: people and connection by name, the statement for held statements. */
export function reviewSummary(r: ReviewView) {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    connection: r.connection.name,
    requester: r.requester.name,
    reason: typeof r.reason === "string" ? r.reason : null,
    approvals: r.approvals,
    minApprovals: r.minApprovals,
    reviewers: reviewersLine(r),
    decisions: r.decisions,
    accessUntil: r.accessUntil,
    expiresAt: r.expiresAt,
    ...(typeof r.statement === "string" ? { statement: r.statement } : {}),
    url: r.url,
  };
}

function reviewText(r: ReviewView): string {
  const what = r.kind === "access" ? `access to ${r.connection.name}` : `a statement on ${r.connection.name}`;
  const state =
    r.status === "pending" ? `pending, ${r.approvals} of ${r.minApprovals} approvals` : outcomeLine(r);
  return `review ${r.id} (${what}): ${state}\nreviewers: ${reviewersLine(r)}\n${r.url}`;
}

export function registerAccessTools(server: McpServer, deps: McpDeps): void {
  server.registerTool(
    "list_connections",
    {
      title: "List Sluice connections",
      description:
        "Lists the connections your Sluice identity may use: name, type (postgres, mysql, ssh, http, …) and description.",
      outputSchema: { connections: z.array(connectionShape) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      guarded(deps, async () => {
        const client = await deps.client();
        const connections = connectionList(await client.get(apiPath("connections")));
        const text =
          connections.length === 0
            ? "no connections"
            : connections
                .map((c) => `${c.name} (${c.type})${c.description ? `: ${c.description}` : ""}`)
                .join("\n");
        return toolResult({ connections }, text);
      }),
  );

  server.registerTool(
    "request_access",
    {
      title: "Request just-in-time access",
      description:
        "Asks for just-in-time access to a connection that requires approval, like `sluice request`. Reviewers " +
        "see the reason; the request is pending until one of them decides (check it with review_status).",
      inputSchema: {
        connection: z.string().min(1).max(200),
        duration: z.string().max(20).describe("how long access is needed, e.g. 30m, 1h, 1h30m"),
        reason: z.string().min(1).max(500).describe("why access is needed; reviewers see it"),
      },
      outputSchema: reviewOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    (args) =>
      guarded(deps, async () => {
        let seconds: number;
        try {
          seconds = parseDuration(args.duration);
        } catch (err) {
          throw new ToolError(`duration ${JSON.stringify(args.duration)}: ${(err as Error).message}`);
        }
        const client = await deps.client();
        const body = { connection: args.connection, durationSeconds: seconds, reason: args.reason };
        const review = expectShape(reviewShape, await client.post(apiPath("reviews"), body), "a review");
        const head = `requested access to ${review.connection.name} for ${formatDuration(seconds)}`;
        return toolResult(reviewSummary(review), `${head}\n${reviewText(review)}`);
      }),
  );

  server.registerTool(
    "review_status",
    {
      title: "Review status",
      description:
        "Shows a Sluice review by id: an access request or a statement held for approval, its status, approvals and decisions.",
      inputSchema: { id: z.string().min(1).max(64).describe("review id") },
      outputSchema: reviewOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      guarded(deps, async () => {
        const client = await deps.client();
        const review = expectShape(reviewShape, await client.get(apiPath("reviews", args.id)), "a review");
        return toolResult(reviewSummary(review), reviewText(review));
      }),
  );
}
