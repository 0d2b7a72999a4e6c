import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf, principalOf } from "../../server/auth";
import { anyRole, errors } from "../../server/route-helpers";
import {
  eventsQuery,
  listSessionsQuery,
  sessionDto,
  sessionEventDto,
  startSessionBody,
  startSessionResponse,
} from "./sessions.schemas";
import type { SessionsService } from "./sessions.service";

export function sessionsRoutes(deps: { sessions: SessionsService }): FastifyPluginAsyncZod {
  const { sessions } = deps;
  const tags = ["sessions"];
  return async (app) => {
    app.post(
      "/sessions",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Starts a session: checks access, picks an agent, returns its endpoint and a short-lived grant.",
          body: startSessionBody,
          response: { 201: startSessionResponse, ...errors, 503: errors[400] },
        },
      },
      async (req, reply) => reply.status(201).send(await sessions.start(actorOf(req), req.body)),
    );
    app.get(
      "/sessions",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "Your sessions (all sessions for admins and auditors).",
          querystring: listSessionsQuery,
          response: { 200: listOf(sessionDto), ...errors },
        },
      },
      async (req) => ({ items: await sessions.list(principalOf(req), req.query) }),
    );
    app.get(
      "/sessions/:id",
      {
        config: { auth: anyRole },
        schema: { tags, params: idParams, response: { 200: sessionDto, ...errors } },
      },
      async (req) => sessions.get(principalOf(req), req.params.id),
    );
    app.get(
      "/sessions/:id/events",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "The session's recording, in sequence order; page with `after`.",
          params: idParams,
          querystring: eventsQuery,
          response: {
            200: z.object({ items: z.array(sessionEventDto), nextAfter: z.number().nullable() }),
            ...errors,
          },
        },
      },
      async (req) => {
        const items = await sessions.events(
          principalOf(req),
          req.params.id,
          req.query.after,
          req.query.limit,
        );
        const last = items.at(-1);
        return { items, nextAfter: items.length === req.query.limit && last ? last.seq : null };
      },
    );
    app.get(
      "/sessions/:id/cast",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "An SSH session's terminal recording as asciicast v2 (application/x-asciicast).",
          params: idParams,
          response: { 200: z.string(), ...errors },
        },
      },
      async (req, reply) => {
        const cast = await sessions.cast(principalOf(req), req.params.id);
        return reply.type("application/x-asciicast").send(cast);
      },
    );
  };
}
