import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

export function healthRoutes(deps: {
  readiness: () => Promise<Record<string, boolean>>;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/healthz",
      {
        config: { auth: "public", rateLimit: false },
        schema: { tags: ["health"], response: { 200: z.object({ status: z.literal("ok") }) } },
      },
      async () => ({ status: "ok" as const }),
    );
    app.get(
      "/readyz",
      {
        config: { auth: "public", rateLimit: false },
        schema: {
          tags: ["health"],
          response: {
            200: z.object({ status: z.string(), checks: z.record(z.string(), z.boolean()) }),
            503: z.object({ status: z.string(), checks: z.record(z.string(), z.boolean()) }),
          },
        },
      },
      async (_req, reply) => {
        const checks = await deps.readiness();
        const ok = Object.values(checks).every(Boolean);
        return reply.status(ok ? 200 : 503).send({ status: ok ? "ready" : "not ready", checks });
      },
    );
  };
}
