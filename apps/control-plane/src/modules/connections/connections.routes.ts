import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf, principalOf } from "../../server/auth";
import { admins, anyRole, errors, noContent } from "../../server/route-helpers";
import { connectionDto, createConnectionBody, updateConnectionBody } from "./connections.schemas";
import type { ConnectionsService } from "./connections.service";

export function connectionsRoutes(deps: { connections: ConnectionsService }): FastifyPluginAsyncZod {
  const { connections } = deps;
  const tags = ["connections"];
  return async (app) => {
    app.get(
      "/connections",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "Connections the caller may use (all, for admins and auditors).",
          response: { 200: listOf(connectionDto), ...errors },
        },
      },
      async (req) => ({ items: await connections.list(principalOf(req)) }),
    );
    app.post(
      "/connections",
      {
        config: { auth: admins },
        schema: { tags, body: createConnectionBody, response: { 201: connectionDto, ...errors } },
      },
      async (req, reply) => reply.status(201).send(await connections.create(actorOf(req), req.body)),
    );
    app.get(
      "/connections/:id",
      {
        config: { auth: anyRole },
        schema: { tags, params: idParams, response: { 200: connectionDto, ...errors } },
      },
      async (req) => connections.get(principalOf(req), req.params.id),
    );
    app.patch(
      "/connections/:id",
      {
        config: { auth: admins },
        schema: {
          tags,
          params: idParams,
          body: updateConnectionBody,
          response: { 200: connectionDto, ...errors },
        },
      },
      async (req) => connections.update(actorOf(req), req.params.id, req.body),
    );
    app.delete(
      "/connections/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        await connections.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
