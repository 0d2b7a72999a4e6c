import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { listOf } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, readers } from "../../server/route-helpers";
import type { KeysService } from "./keys.service";

const keyDto = z.object({
  kid: z.string(),
  algorithm: z.string(),
  publicKeyPem: z.string(),
  notAfterUnixMs: z.number(),
});

export function keysRoutes(deps: { keys: KeysService }): FastifyPluginAsyncZod {
  const tags = ["signing-keys"];
  return async (app) => {
    app.get(
      "/signing-keys",
      {
        config: { auth: readers },
        schema: {
          tags,
          description: "Public keys agents use to verify grants.",
          response: { 200: listOf(keyDto), ...errors },
        },
      },
      async () => ({ items: await deps.keys.verificationKeys() }),
    );
    app.post(
      "/signing-keys/rotate",
      {
        config: { auth: admins },
        schema: {
          tags,
          description:
            "Starts signing with a new key; the previous key keeps verifying until its grants expire.",
          response: { 200: z.object({ kid: z.string() }), ...errors },
        },
      },
      async (req) => deps.keys.rotate(actorOf(req)),
    );
  };
}
