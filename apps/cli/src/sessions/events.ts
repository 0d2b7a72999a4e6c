import { type ApiClient, apiPath } from "@sluice/client";
import { z } from "zod";
import { CliError } from "../cli-error";
import { expectShape } from "../print";

const eventSchema = z.object({
  seq: z.number(),
  at: z.string(),
  kind: z.string(),
  payload: z.unknown(),
});

const pageSchema = z.object({
  items: z.array(eventSchema),
  nextAfter: z.number().nullable(),
});

export type RecordedEvent = z.infer<typeof eventSchema>;

export const EVENT_PAGE_SIZE = 500;

/** Every recorded event of a session, in order, following `nextAfter` until it is null. */
export async function fetchAllEvents(client: ApiClient, sessionId: string): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after: number | null = null;
  for (;;) {
    const query = new URLSearchParams({ limit: String(EVENT_PAGE_SIZE) });
    if (after !== null) query.set("after", String(after));
    const payload = await client.get(`${apiPath("sessions", sessionId, "events")}?${query}`);
    const page = expectShape(pageSchema, payload, "a page of session events");
    events.push(...page.items);
    if (page.nextAfter === null) return events;
    if (after !== null && page.nextAfter <= after) {
      throw new CliError("unexpected response from the control plane: the event pages do not advance");
    }
    after = page.nextAfter;
  }
}
