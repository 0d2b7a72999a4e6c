import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { idParams, listOf, ref } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, noContent, readers } from "../../server/route-helpers";
import { createGroupBody, type GroupsService, groupDto, updateGroupBody } from "./groups.service";

const memberParams = z.object({ id: ref, userId: ref });

export function groupsRoutes(deps: { groups: GroupsService }): FastifyPluginAsyncZod {
  const { groups } = deps;
  const tags = ["groups"];
  return async (app) => {
    app.get(
      "/groups",
      { config: { auth: readers }, schema: { tags, response: { 200: listOf(groupDto), ...errors } } },
      async () => ({
        items: await groups.list(),
      }),
    );
    app.post(
      "/groups",
      {
        config: { auth: admins },
        schema: { tags, body: createGroupBody, response: { 201: groupDto, ...errors } },
      },
      async (req, reply) => reply.status(201).send(await groups.create(actorOf(req), req.body)),
    );
    app.get(
      "/groups/:id",
      {
        config: { auth: readers },
        schema: { tags, params: idParams, response: { 200: groupDto, ...errors } },
      },
      async (req) => groups.get(req.params.id),
    );
    app.patch(
      "/groups/:id",
      {
        config: { auth: admins },
        schema: { tags, params: idParams, body: updateGroupBody, response: { 200: groupDto, ...errors } },
      },
      async (req) => groups.update(actorOf(req), req.params.id, req.body),
    );
    app.delete(
      "/groups/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        await groups.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
    app.put(
      "/groups/:id/members/:userId",
      {
        config: { auth: admins },
        schema: { tags, params: memberParams, response: { ...noContent, ...errors } },
      },
      async (req, reply) => {
        await groups.addMember(actorOf(req), req.params.id, req.params.userId);
        return reply.status(204).send(null);
      },
    );
    app.delete(
      "/groups/:id/members/:userId",
      {
        config: { auth: admins },
        schema: { tags, params: memberParams, response: { ...noContent, ...errors } },
      },
      async (req, reply) => {
        await groups.removeMember(actorOf(req), req.params.id, req.params.userId);
        return reply.status(204).send(null);
      },
    );
  };
}
