import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { errors, readers } from "../../server/route-helpers";
import type { Metrics } from "./metrics";

/** Prometheus exposition for admins and auditors (scrape with an auditor service identity's API key). */
export function metricsRoutes(deps: {
  metrics: Pick<Metrics, "registry" | "auditBacklog">;
  auditBacklog: () => Promise<number>;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/metrics",
      {
        config: { auth: readers, rateLimit: false },
        schema: {
          tags: ["health"],
          description:
            "Prometheus metrics: admission latency, queue depth, refusals by reason, audit backlog.",
          response: { 200: z.string(), ...errors },
        },
      },
      async (_req, reply) => {
        deps.metrics.auditBacklog.set(await deps.auditBacklog());
        const text = await deps.metrics.registry.metrics();
        return reply.type(deps.metrics.registry.contentType).send(text);
      },
    );
  };
}
