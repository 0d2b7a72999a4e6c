import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, noContent, readers } from "../../server/route-helpers";
import {
  type AgentsService,
  agentDto,
  agentWithToken,
  createAgentBody,
  updateAgentBody,
} from "./agents.service";

export function agentsRoutes(deps: { agents: AgentsService }): FastifyPluginAsyncZod {
  const { agents } = deps;
  const tags = ["agents"];
  return async (app) => {
    app.get(
      "/agents",
      { config: { auth: readers }, schema: { tags, response: { 200: listOf(agentDto), ...errors } } },
      async () => ({
        items: await agents.list(),
      }),
    );
    app.post(
      "/agents",
      {
        config: { auth: admins },
        schema: {
          tags,
          description: "Registers an agent and returns its enrollment token once.",
          body: createAgentBody,
          response: { 201: agentWithToken, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await agents.create(actorOf(req), req.body)),
    );
    app.get(
      "/agents/:id",
      {
        config: { auth: readers },
        schema: { tags, params: idParams, response: { 200: agentDto, ...errors } },
      },
      async (req) => agents.get(req.params.id),
    );
    app.patch(
      "/agents/:id",
      {
        config: { auth: admins },
        schema: { tags, params: idParams, body: updateAgentBody, response: { 200: agentDto, ...errors } },
      },
      async (req) => agents.update(actorOf(req), req.params.id, req.body),
    );
    app.post(
      "/agents/:id/revoke",
      {
        config: { auth: admins },
        schema: { tags, params: idParams, response: { 200: agentDto, ...errors } },
      },
      async (req) => agents.revoke(actorOf(req), req.params.id),
    );
    app.post(
      "/agents/:id/rotate-token",
      {
        config: { auth: admins },
        schema: { tags, params: idParams, response: { 200: agentWithToken, ...errors } },
      },
      async (req) => agents.rotateToken(actorOf(req), req.params.id),
    );
    app.delete(
      "/agents/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        await agents.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
