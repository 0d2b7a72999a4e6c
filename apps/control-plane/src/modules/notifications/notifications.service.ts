import type { NotificationDelivery } from "@sluice/db";
import { AppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { ChannelsService } from "./channels.service";
import { createDeliveryProcessor } from "./delivery-processor";
import type { NotificationEvent, NotificationPayloads, Notifier } from "./events";
import { TEST_EVENT, truncate } from "./message-format";
import type { DeliveryDto, DeliveryStatus, ListDeliveriesQuery } from "./notifications.schemas";

/** Where delivery jobs go (a BullMQ queue on Redis in the control plane). */
export interface DeliveryQueue {
  /** Queues one job per delivery id; rejects when the queue cannot take them. */
  enqueue(deliveryIds: string[]): Promise<void>;
}

export interface NotificationsDeps {
  prisma: Db;
  mutate: Mutate;
  channels: ChannelsService;
  queue: DeliveryQueue;
  logger: Logger;
  /** How long one HTTP attempt may take. */
  requestTimeoutMs: number;
  /** How long publishing waits for the queue before listing the deliveries as failed. */
  enqueueTimeoutMs?: number;
}

const NOT_QUEUED = "not queued: the job queue (Redis) was unavailable; retry this delivery";
const MAX_PAYLOAD_STRING = 4000;

type DeliveryRow = NotificationDelivery & { channel: { id: string; name: string } };

export function toDeliveryDto(r: DeliveryRow): DeliveryDto {
  return {
    id: r.id,
    channel: { id: r.channel.id, name: r.channel.name },
    event: r.event,
    status: r.status as DeliveryStatus,
    attempts: r.attempts,
    lastStatusCode: r.lastStatusCode,
    lastError: r.lastError,
    payload: r.payload,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    deliveredAt: r.deliveredAt?.toISOString() ?? null,
  };
}

/** Payload strings (statements, reasons) are bounded before they are stored and sent. */
function bounded(payload: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(payload).map(([k, v]) => [k, typeof v === "string" ? truncate(v, MAX_PAYLOAD_STRING) : v]),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export type NotificationsService = ReturnType<typeof createNotificationsService>;

/**
 * Fans events out to channels (one delivery row and one queued job per channel), lists
 * and re-queues deliveries, and performs one delivery attempt for the job runner.
 */
export function createNotificationsService(deps: NotificationsDeps) {
  const { prisma, channels, logger } = deps;
  const enqueueTimeoutMs = deps.enqueueTimeoutMs ?? 5000;
  const inflight = new Set<Promise<void>>();
  let closed = false;

  /** Queues the deliveries, or marks them failed (visible, retryable) when the queue is down. */
  async function enqueueOrFail(ids: string[]): Promise<boolean> {
    try {
      await withTimeout(deps.queue.enqueue(ids), enqueueTimeoutMs);
      return true;
    } catch (err) {
      logger.warn(
        { reason: (err as Error).message, deliveries: ids.length },
        "notification deliveries could not be queued; they are listed as failed",
      );
      await prisma.notificationDelivery
        .updateMany({
          where: { id: { in: ids }, status: "pending" },
          data: { status: "failed", lastError: NOT_QUEUED },
        })
        .catch((e: unknown) => logger.error({ err: e }, "could not mark unqueued deliveries failed"));
      return false;
    }
  }

  async function fanOut(event: NotificationEvent, payload: object): Promise<void> {
    const targets = await prisma.notificationChannel.findMany({
      where: { enabled: true, OR: [{ events: { isEmpty: true } }, { events: { has: event } }] },
      select: { id: true },
    });
    if (targets.length === 0) return;
    const data = bounded(payload) as object;
    const rows = await prisma.notificationDelivery.createManyAndReturn({
      data: targets.map((c) => ({ channelId: c.id, event, payload: data })),
      select: { id: true },
    });
    await enqueueOrFail(rows.map((r) => r.id));
  }

  const notifier: Notifier = {
    publish<E extends NotificationEvent>(event: E, payload: NotificationPayloads[E]): Promise<void> {
      if (closed) {
        logger.warn({ event }, "notification dropped: the control plane is shutting down");
        return Promise.resolve();
      }
      const work = fanOut(event, payload).catch((err: unknown) => {
        logger.error({ err, event }, "could not publish a notification");
      });
      inflight.add(work);
      void work.finally(() => inflight.delete(work));
      return work;
    },
  };

  async function findDelivery(id: string): Promise<DeliveryRow> {
    const row = isUuid(id)
      ? await prisma.notificationDelivery.findUnique({
          where: { id },
          include: { channel: { select: { id: true, name: true } } },
        })
      : null;
    if (!row) throw new AppError("notification_delivery.not_found", `notification delivery ${id} not found`);
    return row;
  }

  return {
    notifier,
    /** One delivery attempt, for the job runner. */
    processDelivery: createDeliveryProcessor(deps),
    async listDeliveries(q: ListDeliveriesQuery): Promise<DeliveryDto[]> {
      const channel = q.channel ? await channels.find(q.channel) : undefined;
      const rows = await prisma.notificationDelivery.findMany({
        where: {
          status: q.status,
          event: q.event,
          channelId: channel?.id,
          createdAt: q.before ? { lt: new Date(q.before) } : undefined,
        },
        include: { channel: { select: { id: true, name: true } } },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: q.limit,
      });
      return rows.map(toDeliveryDto);
    },
    async getDelivery(id: string): Promise<DeliveryDto> {
      return toDeliveryDto(await findDelivery(id));
    },
    /** Sends a test event to one channel (enabled or not), whatever its event filter. */
    async sendTest(actor: Actor, ref: string): Promise<DeliveryDto> {
      const channel = await channels.find(ref);
      const payload = {
        channel: channel.name,
        message: "This is a test notification. If you can read it, the channel works.",
        at: new Date().toISOString(),
      };
      const row = await deps.mutate(actor, async ({ tx, audit }) => {
        const created = await tx.notificationDelivery.create({
          data: { channelId: channel.id, event: TEST_EVENT, payload },
          include: { channel: { select: { id: true, name: true } } },
        });
        await audit({
          action: "notification_channel.test",
          targetType: "notification_channel",
          targetId: channel.id,
          details: { deliveryId: created.id },
        });
        return created;
      });
      if (!(await enqueueOrFail([row.id]))) {
        throw new AppError(
          "notification.queue_unavailable",
          "the notification queue is unavailable; try again",
        );
      }
      return toDeliveryDto(row);
    },
    /** Re-queues a failed delivery for a fresh round of attempts; the channel must be enabled. */
    async retry(actor: Actor, id: string): Promise<DeliveryDto> {
      const existing = await findDelivery(id);
      if (existing.status !== "failed") {
        throw new AppError(
          "notification_delivery.not_failed",
          `the delivery is ${existing.status}, not failed`,
        );
      }
      const channel = await prisma.notificationChannel.findUnique({ where: { id: existing.channelId } });
      if (!channel?.enabled) {
        throw new AppError("notification_channel.disabled", "the channel is disabled; enable it first");
      }
      await deps.mutate(actor, async ({ tx, audit }) => {
        const moved = await tx.notificationDelivery.updateMany({
          where: { id: existing.id, status: "failed" },
          data: { status: "pending" },
        });
        if (moved.count === 0) {
          throw new AppError("notification_delivery.not_failed", "the delivery is no longer failed");
        }
        await audit({
          action: "notification_delivery.retry",
          targetType: "notification_delivery",
          targetId: existing.id,
          details: { channel: existing.channel.name, event: existing.event },
        });
      });
      if (!(await enqueueOrFail([existing.id]))) {
        throw new AppError(
          "notification.queue_unavailable",
          "the notification queue is unavailable; try again",
        );
      }
      return toDeliveryDto(await findDelivery(existing.id));
    },
    /** Waits for publishes in flight, then drops new ones (shutdown). */
    async settle(): Promise<void> {
      closed = true;
      await Promise.all([...inflight]);
    },
  };
}
