import { apiPath } from "@sluice/client";
import { type Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import { type CliContext, outputFormat } from "../context";
import { collectList, compact, intParser, requireChanges } from "../flags";
import { col, isRecord, renderJson } from "../output";
import { expectObject, expectShape, label, printDone, printItem, printList } from "../print";
import type { ResourceSpec } from "../resources";
import { addReadDeleteCommands, updateAndPrint } from "./admin/crud";

export const notificationEvents = [
  "review.requested",
  "review.approval_added",
  "review.decided",
  "guardrail.violated",
  "session.started",
  "session.ended",
] as const;

const eventsOrAll = (value: unknown) => (Array.isArray(value) && value.length === 0 ? "all" : value);
const nameOf = (value: unknown) => (isRecord(value) && typeof value.name === "string" ? value.name : value);

export const notificationChannels: ResourceSpec = {
  path: "notification-channels",
  singular: "notification channel",
  plural: "notification channels",
  columns: [
    col("NAME", "name"),
    col("KIND", "kind"),
    col("ENABLED", "enabled"),
    col("EVENTS", "events", eventsOrAll),
    col("URL", "url"),
    col("ID", "id"),
  ],
};

export const notificationDeliveries: ResourceSpec = {
  path: "notification-deliveries",
  singular: "notification delivery",
  plural: "notification deliveries",
  columns: [
    col("ID", "id"),
    col("STATUS", "status"),
    col("EVENT", "event"),
    col("CHANNEL", "channel", nameOf),
    col("ATTEMPTS", "attempts"),
    col("CODE", "lastStatusCode"),
    col("ERROR", "lastError"),
    col("CREATED", "createdAt"),
  ],
};

export interface ChannelFlags {
  kind?: string;
  url?: string;
  event?: string[];
  enabled?: boolean;
}

export interface DeliveryFlags {
  failed?: boolean;
  status?: string;
  channel?: string;
  event?: string;
  limit?: number;
}

function parseEvents(value: string, previous: string[] | undefined): string[] {
  const events = collectList(value, previous);
  const unknown = events.filter((e) => !(notificationEvents as readonly string[]).includes(e));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown event ${unknown.join(", ")}: use ${notificationEvents.join(", ")}`,
    );
  }
  return events;
}

export function channelCreateBody(name: string, flags: ChannelFlags): Record<string, unknown> {
  return compact({
    name,
    kind: flags.kind ?? "webhook",
    url: flags.url,
    events: flags.event,
    enabled: flags.enabled,
  });
}

export function channelUpdateBody(flags: ChannelFlags): Record<string, unknown> {
  const body = compact({ url: flags.url, events: flags.event, enabled: flags.enabled });
  requireChanges(body);
  return body;
}

export function deliveriesQuery(flags: DeliveryFlags): string {
  const q = new URLSearchParams();
  const status = flags.failed ? "failed" : flags.status;
  if (status) q.set("status", status);
  if (flags.channel) q.set("channel", flags.channel);
  if (flags.event) q.set("event", flags.event);
  if (flags.limit !== undefined) q.set("limit", String(flags.limit));
  const text = q.toString();
  return text ? `?${text}` : "";
}

const withSecretSchema = z.object({
  channel: z.record(z.string(), z.unknown()),
  secret: z.string().optional(),
});

export function secretNotice(secret: string): string[] {
  return [
    "",
    `  signing secret: ${secret}`,
    "",
    "This secret is shown only once; store it with the receiver now. Each request carries",
    "Sluice-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' with this secret>.",
    "Use `sluice notifications channels rotate-secret` to issue a new one.",
  ];
}

function printWithSecret(ctx: CliContext, cmd: Command, payload: unknown, verb: string): void {
  if (outputFormat(cmd) === "json") {
    ctx.io.stdout(renderJson(payload));
    return;
  }
  const { channel, secret } = expectShape(withSecretSchema, payload, "{ channel, secret }");
  ctx.io.stdout(`${verb} notification channel ${label(channel)}\n`);
  printItem(ctx.io, "table", channel);
  if (secret) ctx.io.stdout(`${secretNotice(secret).join("\n")}\n`);
}

const enabledOptions = (cmd: Command) =>
  cmd
    .addOption(new Option("--enable", "send notifications (default)").conflicts("disable"))
    .addOption(new Option("--disable", "keep the channel but send nothing"));

function enabledFlag(flags: { enable?: boolean; disable?: boolean }): boolean | undefined {
  if (flags.disable) return false;
  return flags.enable ? true : undefined;
}

function registerChannelCommands(parent: Command, ctx: CliContext): void {
  const channels = parent
    .command("channels")
    .description("webhook and Slack channels that receive notifications (admin)");
  addReadDeleteCommands(channels, ctx, notificationChannels);

  enabledOptions(
    channels
      .command("create")
      .description("add a channel; a webhook channel's signing secret is printed once")
      .argument("<name>", "channel name")
      .requiredOption("--url <url>", "receiver URL (http or https; for slack, the incoming-webhook URL)")
      .addOption(new Option("--kind <kind>", "webhook (signed JSON) or slack").choices(["webhook", "slack"]))
      .option(
        "--event <event>",
        `only these events (repeatable; default all): ${notificationEvents.join(", ")}`,
        parseEvents,
      ),
  ).action(
    async (name: string, flags: ChannelFlags & { enable?: boolean; disable?: boolean }, cmd: Command) => {
      const client = await ctx.client();
      const body = channelCreateBody(name, { ...flags, enabled: enabledFlag(flags) });
      printWithSecret(ctx, cmd, await client.post(apiPath(notificationChannels.path), body), "created");
    },
  );

  enabledOptions(
    channels
      .command("update")
      .description("change a channel's URL, event filter (--event replaces it) or enable/disable it")
      .argument("<id>", "channel id or name")
      .option("--url <url>", "receiver URL")
      .option("--event <event>", "only these events (repeatable)", parseEvents)
      .option("--all-events", "receive every event (clears the filter)"),
  ).action(
    async (
      id: string,
      flags: ChannelFlags & { enable?: boolean; disable?: boolean; allEvents?: boolean },
      cmd: Command,
    ) => {
      const events = flags.allEvents ? [] : flags.event;
      const body = channelUpdateBody({ url: flags.url, event: events, enabled: enabledFlag(flags) });
      await updateAndPrint(ctx, cmd, notificationChannels, id, body);
    },
  );

  channels
    .command("test")
    .description("send a test notification to a channel (even a disabled one)")
    .argument("<id>", "channel id or name")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      const delivery = expectObject(await client.post(apiPath(notificationChannels.path, id, "test")));
      const message = `queued test notification ${String(delivery.id)} to ${id}; see \`sluice notifications deliveries get ${String(delivery.id)}\``;
      printDone(ctx.io, outputFormat(cmd), message, delivery);
    });

  channels
    .command("rotate-secret")
    .description("issue a new signing secret for a webhook channel; the old one stops working at once")
    .argument("<id>", "channel id or name")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      const payload = await client.post(apiPath(notificationChannels.path, id, "rotate-secret"));
      printWithSecret(ctx, cmd, payload, "rotated the secret of");
    });
}

function registerDeliveryCommands(parent: Command, ctx: CliContext): void {
  const deliveries = parent
    .command("deliveries")
    .description("notifications sent, pending or failed (admin)");

  deliveries
    .command("list", { isDefault: true })
    .description("list deliveries, newest first (the default)")
    .option("--failed", "only failed deliveries (same as --status failed)")
    .addOption(
      new Option("--status <status>", "only this status").choices(["pending", "delivered", "failed"]),
    )
    .option("--channel <name>", "only deliveries to this channel")
    .option("--event <event>", "only this event")
    .option("--limit <n>", "at most this many", intParser(1, 500))
    .action(async (flags: DeliveryFlags, cmd: Command) => {
      const client = await ctx.client();
      const payload = await client.get(`${apiPath(notificationDeliveries.path)}${deliveriesQuery(flags)}`);
      printList(ctx.io, outputFormat(cmd), payload, notificationDeliveries);
    });

  deliveries
    .command("get")
    .description("show one delivery, with its payload and last error")
    .argument("<id>", "delivery id")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      printItem(ctx.io, outputFormat(cmd), await client.get(apiPath(notificationDeliveries.path, id)));
    });

  deliveries
    .command("retry")
    .description("queue a failed delivery again")
    .argument("<id>", "delivery id")
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      const delivery = expectObject(await client.post(apiPath(notificationDeliveries.path, id, "retry")));
      printDone(ctx.io, outputFormat(cmd), `queued delivery ${id} again`, delivery);
    });
}

export function registerNotificationsCommands(program: Command, ctx: CliContext): void {
  const notifications = program
    .command("notifications")
    .description("notification channels (webhook, Slack) and their deliveries (admin role)");
  registerChannelCommands(notifications, ctx);
  registerDeliveryCommands(notifications, ctx);
}
