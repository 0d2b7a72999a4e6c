import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * This replica's Prometheus metrics. One registry per control plane (tests run several in
 * one process), passed to whoever measures something.
 */
export function createMetrics() {
  const registry = new Registry();
  const admissionSeconds = new Histogram({
    name: "sluice_admission_duration_seconds",
    help: "Time from an agent's AuthorizeSession to its answer, queueing included, by outcome.",
    labelNames: ["outcome"] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const admissionQueue = new Gauge({
    name: "sluice_admission_queue_depth",
    help: "Session authorizations waiting for a slot.",
    registers: [registry],
  });
  const admissionInFlight = new Gauge({
    name: "sluice_admission_in_flight",
    help: "Session authorizations being processed.",
    registers: [registry],
  });
  const admissionRefusals = new Counter({
    name: "sluice_admission_refusals_total",
    help: "Session authorizations refused, by reason (busy, deadline, unauthenticated, forbidden, not_found, invalid, internal).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const auditBacklog = new Gauge({
    name: "sluice_audit_outbox_entries",
    help: "Audit entries committed but not yet linked into the hash chain.",
    registers: [registry],
  });
  const sessionsAborted = new Counter({
    name: "sluice_sessions_aborted_total",
    help: "Sessions closed as aborted, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  return {
    registry,
    admissionSeconds,
    admissionQueue,
    admissionInFlight,
    admissionRefusals,
    auditBacklog,
    sessionsAborted,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
