import type { NotificationChannel, NotificationDelivery } from "@sluice/db";
import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import type { ChannelsService, ChannelTarget } from "./channels.service";
import { attemptDelivery } from "./deliver";
import { type OutboundEvent, slackBody, TEST_EVENT, webhookBody } from "./message-format";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signatureHeader } from "./signature";

/** One attempt's outcome, as the job runner needs it. */
export type ProcessOutcome =
  | { outcome: "delivered" | "skipped" }
  | { outcome: "retry" | "failed"; error: string };

const USER_AGENT = "Sluice-Notifications/1";

/** The HTTP request for a delivery: signed JSON for webhooks, `{text, blocks}` for Slack. */
export function requestFor(d: NotificationDelivery, target: ChannelTarget, now = Date.now()) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    [EVENT_HEADER]: d.event,
    [DELIVERY_HEADER]: d.id,
  };
  if (target.kind === "slack") return { headers, body: slackBody(d.event as OutboundEvent, d.payload) };
  const body = webhookBody(d.id, d.event, d.createdAt, d.payload);
  if (target.secret) headers[SIGNATURE_HEADER] = signatureHeader(target.secret, Math.floor(now / 1000), body);
  return { headers, body };
}

/**
 * Performs one attempt of a pending delivery and records its outcome on the row:
 * delivered, pending again (a retry follows) or failed (permanent error or last attempt).
 * Rows that are no longer pending are skipped, so a stale job never sends twice.
 */
export function createDeliveryProcessor(deps: {
  prisma: Db;
  channels: Pick<ChannelsService, "target">;
  logger: Logger;
  requestTimeoutMs: number;
}) {
  const { prisma } = deps;

  async function record(id: string, data: Parameters<Db["notificationDelivery"]["updateMany"]>[0]["data"]) {
    await prisma.notificationDelivery.updateMany({ where: { id, status: "pending" }, data });
  }

  /** The channel's target, or why this delivery cannot be attempted at all. */
  function openTarget(channel: NotificationChannel, event: string, log: Logger): ChannelTarget | string {
    if (!channel.enabled && event !== TEST_EVENT) return "the channel is disabled";
    try {
      return deps.channels.target(channel);
    } catch (err) {
      log.error({ err }, "cannot open the channel's sealed secret");
      return "cannot open the channel's sealed secret (was the master key changed?)";
    }
  }

  /** `attempt` counts from 1; the last allowed is `maxAttempts`. */
  return async function processDelivery(
    id: string,
    attempt: number,
    maxAttempts: number,
  ): Promise<ProcessOutcome> {
    const d = await prisma.notificationDelivery.findUnique({ where: { id }, include: { channel: true } });
    if (d?.status !== "pending") return { outcome: "skipped" };
    const log = deps.logger.child({ deliveryId: id, channel: d.channel.name, event: d.event });
    const target = openTarget(d.channel, d.event, log);
    if (typeof target === "string") {
      await record(id, { status: "failed", lastError: target });
      return { outcome: "failed", error: target };
    }
    const { headers, body } = requestFor(d, target);
    const res = await attemptDelivery({
      url: target.url,
      headers,
      body,
      timeoutMs: deps.requestTimeoutMs,
      scrub: target.scrub,
    });
    if (res.ok) {
      const data = { status: "delivered", lastStatusCode: res.statusCode, deliveredAt: new Date() };
      await record(id, { ...data, attempts: { increment: 1 } });
      log.debug({ attempt, statusCode: res.statusCode }, "notification delivered");
      return { outcome: "delivered" };
    }
    const final = res.permanent || attempt >= maxAttempts;
    await record(id, {
      status: final ? "failed" : "pending",
      attempts: { increment: 1 },
      lastStatusCode: res.statusCode,
      lastError: res.error,
    });
    log.warn(
      { attempt, maxAttempts, statusCode: res.statusCode, error: res.error, final },
      final ? "notification delivery failed" : "notification delivery attempt failed; will retry",
    );
    return { outcome: final ? "failed" : "retry", error: res.error };
  };
}
