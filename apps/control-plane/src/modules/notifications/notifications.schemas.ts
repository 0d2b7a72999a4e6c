import { z } from "zod";
import { name, nullableTimestamp, plainText, ref, timestamp } from "../../lib/schemas";
import { notificationEvents } from "./events";

export const channelKinds = ["webhook", "slack"] as const;
export type ChannelKind = (typeof channelKinds)[number];
export const deliveryStatuses = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export const MAX_URL_LENGTH = 2000;

/** An absolute http(s) URL without embedded user:password (the URL is shown to admins). */
export function urlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL";
  if (url.username || url.password) return "must not carry a user name or password";
  if (!url.hostname) return "must name a host";
  return undefined;
}

const channelUrl = z
  .string()
  .trim()
  .min(1)
  .max(MAX_URL_LENGTH)
  .superRefine((value, ctx) => {
    const problem = urlProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .describe("receiver URL (http or https)");

const eventFilter = z
  .array(z.enum(notificationEvents))
  .max(notificationEvents.length)
  .transform((events) => [...new Set(events)])
  .describe("events this channel receives; empty means every event");

export const createChannelBody = z.strictObject({
  name,
  kind: z.enum(channelKinds).describe("webhook: signed JSON; slack: a Slack-compatible incoming webhook"),
  url: channelUrl,
  events: eventFilter.default([]),
  enabled: z.boolean().default(true),
});

export const updateChannelBody = z.strictObject({
  url: channelUrl.optional(),
  events: eventFilter.optional(),
  enabled: z.boolean().optional(),
});

export const channelDto = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(channelKinds),
  url: z.string().describe("for slack channels the secret part of the URL is hidden"),
  events: z.array(z.string()),
  enabled: z.boolean(),
  signing: z.enum(["hmac-sha256"]).nullable().describe("how bodies are signed; the secret is never shown"),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export const channelWithSecret = z.object({
  channel: channelDto,
  secret: z
    .string()
    .optional()
    .describe("the webhook signing secret, returned only here and never again (webhook channels)"),
});

export const deliveryDto = z.object({
  id: z.string(),
  channel: z.object({ id: z.string(), name: z.string() }),
  event: z.string(),
  status: z.enum(deliveryStatuses),
  attempts: z.number(),
  lastStatusCode: z.number().nullable(),
  lastError: z.string().nullable(),
  payload: z.unknown(),
  createdAt: timestamp,
  updatedAt: timestamp,
  deliveredAt: nullableTimestamp,
});

export const listDeliveriesQuery = z.object({
  status: z.enum(deliveryStatuses).optional(),
  channel: ref.optional(),
  event: plainText(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime().optional().describe("only deliveries created before this time"),
});

export type CreateChannelInput = z.infer<typeof createChannelBody>;
export type UpdateChannelInput = z.infer<typeof updateChannelBody>;
export type ChannelDto = z.infer<typeof channelDto>;
export type DeliveryDto = z.infer<typeof deliveryDto>;
export type ListDeliveriesQuery = z.infer<typeof listDeliveriesQuery>;
