import { AppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { Metrics } from "../metrics/metrics";

export interface AdmissionSettings {
  /** Authorizations processed at once (each holds database connections while it runs). */
  concurrency: number;
  /** Authorizations allowed to wait for a slot. */
  queue: number;
  /** The longest an authorization waits for a slot before the answer is "busy". */
  maxWaitMs: number;
}

interface Waiter {
  start: () => void;
  timer: NodeJS.Timeout;
}

export type Admission = ReturnType<typeof createAdmission>;

const busyMessage = "the control plane is busy: retry in a moment";

/**
 * Bounds the session authorizations one replica works on. Over the bound they queue in
 * arrival order; a full queue, a wait past `maxWaitMs` or a caller whose own deadline
 * would pass first is refused at once as `service.busy` (gRPC RESOURCE_EXHAUSTED), never
 * left to time out as "unreachable". Refusals are logged once per second as a summary.
 */
export function createAdmission(
  settings: AdmissionSettings,
  deps: {
    metrics: Pick<Metrics, "admissionQueue" | "admissionInFlight" | "admissionRefusals">;
    logger: Logger;
  },
) {
  let inFlight = 0;
  const waiting: Waiter[] = [];
  const refusedSince = new Map<string, number>();
  let summary: NodeJS.Timeout | undefined;

  function refuse(reason: "queue_full" | "wait_timeout" | "deadline"): AppError {
    deps.metrics.admissionRefusals.inc({ reason: "busy" });
    refusedSince.set(reason, (refusedSince.get(reason) ?? 0) + 1);
    summary ??= setTimeout(() => {
      summary = undefined;
      const counts = Object.fromEntries(refusedSince);
      refusedSince.clear();
      deps.logger.warn(
        { refused: counts, inFlight, queued: waiting.length, limits: settings },
        "session authorizations refused: the control plane is over its admission limits",
      );
    }, 1000);
    summary.unref();
    return new AppError("service.busy", busyMessage);
  }

  function gauges() {
    deps.metrics.admissionQueue.set(waiting.length);
    deps.metrics.admissionInFlight.set(inFlight);
  }

  function release(): void {
    inFlight -= 1;
    const next = waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      inFlight += 1;
      next.start();
    }
    gauges();
  }

  function slot(deadline: number): Promise<void> {
    if (inFlight < settings.concurrency) {
      inFlight += 1;
      gauges();
      return Promise.resolve();
    }
    if (waiting.length >= settings.queue) return Promise.reject(refuse("queue_full"));
    const waitFor = Math.min(settings.maxWaitMs, deadline - Date.now());
    if (waitFor <= 0) return Promise.reject(refuse("deadline"));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: resolve,
        timer: setTimeout(() => {
          const at = waiting.indexOf(waiter);
          if (at >= 0) waiting.splice(at, 1);
          gauges();
          reject(refuse(waitFor < settings.maxWaitMs ? "deadline" : "wait_timeout"));
        }, waitFor),
      };
      waiting.push(waiter);
      gauges();
    });
  }

  return {
    /**
     * Runs `work` when a slot is free. `deadline` (epoch ms) is when the caller stops
     * waiting; an authorization is never started for a caller that has already given up.
     */
    async run<T>(deadline: number, work: () => Promise<T>): Promise<T> {
      await slot(deadline);
      try {
        return await work();
      } finally {
        release();
      }
    },
    stats: () => ({ inFlight, queued: waiting.length }),
  };
}
