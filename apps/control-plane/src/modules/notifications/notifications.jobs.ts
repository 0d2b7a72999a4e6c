import type { Logger } from "@sluice/logger";
import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { ProcessOutcome } from "./delivery-processor";
import type { DeliveryQueue } from "./notifications.service";

export const NOTIFICATIONS_QUEUE = "notifications";

export interface NotificationJobSettings {
  /** Attempts per delivery (the first try included). */
  maxAttempts: number;
  /** Exponential backoff: the n-th retry waits backoffMs * 2^(n-1). */
  backoffMs: number;
  /** Deliveries sent at once by one worker. */
  concurrency: number;
  /** Upper bound of one HTTP attempt; the job lock outlives it. */
  requestTimeoutMs: number;
}

interface DeliveryJob {
  deliveryId: string;
}

/** BullMQ's key prefix under the control plane's Redis prefix, e.g. `sluice:bull`. */
export function bullPrefix(redisPrefix: string): string {
  if (redisPrefix === "") return "bull";
  return redisPrefix.endsWith(":") ? `${redisPrefix}bull` : `${redisPrefix}:bull`;
}

/** Logs a repeating Redis error once, then at most every `everyMs`. */
function throttledWarn(logger: Logger, message: string, everyMs = 30_000) {
  let last = 0;
  return (err: Error) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    logger.warn({ reason: err.message }, message);
  };
}

export interface NotificationQueue extends DeliveryQueue {
  close(): Promise<void>;
}

/**
 * The producer side. Its Redis connection does not queue commands while Redis is
 * unreachable, so an enqueue fails at once instead of hanging the publisher.
 */
export async function createNotificationQueue(opts: {
  redisUrl: string;
  redisPrefix: string;
  settings: NotificationJobSettings;
  logger: Logger;
}): Promise<NotificationQueue> {
  const { settings } = opts;
  const queue = new Queue<DeliveryJob>(NOTIFICATIONS_QUEUE, {
    connection: {
      url: opts.redisUrl,
      connectionName: "sluice-cp-notify",
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    },
    prefix: bullPrefix(opts.redisPrefix),
    defaultJobOptions: {
      attempts: settings.maxAttempts,
      backoff: { type: "exponential", delay: settings.backoffMs },
      removeOnComplete: true,
      removeOnFail: true,
    },
  });
  queue.on("error", throttledWarn(opts.logger, "notification queue: Redis error"));
  await queue.waitUntilReady();
  return {
    async enqueue(deliveryIds) {
      await queue.addBulk(deliveryIds.map((deliveryId) => ({ name: "deliver", data: { deliveryId } })));
    },
    async close() {
      // Queue owns the connection it created from the options above and quits it here.
      await queue.close();
    },
  };
}

export interface NotificationWorker {
  /** Waits up to `graceMs` for deliveries in progress, then drops the connection. */
  close(graceMs?: number): Promise<void>;
}

/** The consumer side: runs delivery attempts and lets BullMQ schedule the retries. */
export function startNotificationWorker(opts: {
  redisUrl: string;
  redisPrefix: string;
  settings: NotificationJobSettings;
  logger: Logger;
  process: (deliveryId: string, attempt: number, maxAttempts: number) => Promise<ProcessOutcome>;
}): NotificationWorker {
  const { settings, logger } = opts;
  const worker = new Worker<DeliveryJob>(
    NOTIFICATIONS_QUEUE,
    async (job: Job<DeliveryJob>) => {
      const maxAttempts = job.opts.attempts ?? settings.maxAttempts;
      const result = await opts.process(job.data.deliveryId, job.attemptsMade + 1, maxAttempts);
      if (result.outcome === "failed") throw new UnrecoverableError(result.error);
      if (result.outcome === "retry") throw new Error(result.error);
    },
    {
      connection: { url: opts.redisUrl, connectionName: "sluice-cp-notify-worker" },
      prefix: bullPrefix(opts.redisPrefix),
      concurrency: settings.concurrency,
      lockDuration: Math.max(30_000, settings.requestTimeoutMs * 3),
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    },
  );
  worker.on("error", throttledWarn(logger, "notification worker: Redis error"));
  return {
    async close(graceMs = 5000) {
      // The worker created (and owns) its connections from the options above; close() quits them
      // after the deliveries in progress finish. One still running after the grace period is
      // left to BullMQ's stalled-job recovery (another replica, or this one on restart).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), graceMs);
      });
      const outcome = await Promise.race([worker.close(), late]);
      clearTimeout(timer);
      if (outcome === "late") await worker.disconnect();
    },
  };
}
