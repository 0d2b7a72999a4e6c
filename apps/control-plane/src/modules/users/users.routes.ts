import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { idParams, listOf, ref } from "../../lib/schemas";
import { actorOf, principalOf } from "../../server/auth";
import { admins, anyRole, errors, noContent, readers } from "../../server/route-helpers";
import { apiKeyDto, createApiKeyBody, createUserBody, meDto, updateUserBody, userDto } from "./users.schemas";
import type { UsersService } from "./users.service";

export function usersRoutes(deps: { users: UsersService }): FastifyPluginAsyncZod {
  const { users } = deps;
  return async (app) => {
    app.get(
      "/me",
      { config: { auth: anyRole }, schema: { tags: ["users"], response: { 200: meDto, ...errors } } },
      async (req) => users.me(principalOf(req)),
    );
    app.get(
      "/users",
      {
        config: { auth: readers },
        schema: { tags: ["users"], response: { 200: listOf(userDto), ...errors } },
      },
      async () => ({ items: await users.list() }),
    );
    app.post(
      "/users",
      {
        config: { auth: admins },
        schema: { tags: ["users"], body: createUserBody, response: { 201: userDto, ...errors } },
      },
      async (req, reply) => reply.status(201).send(await users.create(actorOf(req), req.body)),
    );
    app.get(
      "/users/:id",
      {
        config: { auth: readers },
        schema: { tags: ["users"], params: idParams, response: { 200: userDto, ...errors } },
      },
      async (req) => users.get(req.params.id),
    );
    app.patch(
      "/users/:id",
      {
        config: { auth: admins },
        schema: {
          tags: ["users"],
          params: idParams,
          body: updateUserBody,
          response: { 200: userDto, ...errors },
        },
      },
      async (req) => users.update(actorOf(req), req.params.id, req.body),
    );
    app.delete(
      "/users/:id",
      {
        config: { auth: admins },
        schema: { tags: ["users"], params: idParams, response: { ...noContent, ...errors } },
      },
      async (req, reply) => {
        await users.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
    app.post(
      "/users/:id/revoke-tokens",
      {
        config: { auth: admins },
        schema: {
          tags: ["users"],
          description:
            "Revokes the user's logins (refresh and access tokens) and ends the user's live sessions.",
          params: idParams,
          response: { 200: z.object({ sessionsEnded: z.number() }), ...errors },
        },
      },
      async (req) => users.revokeTokens(actorOf(req), req.params.id),
    );
    app.post(
      "/users/:id/api-keys",
      {
        config: { auth: anyRole },
        schema: {
          tags: ["api-keys"],
          description: "Creates an API key. The secret is returned once and never again.",
          params: idParams,
          body: createApiKeyBody,
          response: { 201: z.object({ key: apiKeyDto, secret: z.string() }), ...errors },
        },
      },
      async (req, reply) =>
        reply.status(201).send(await users.createApiKey(actorOf(req), req.params.id, req.body)),
    );
    app.get(
      "/users/:id/api-keys",
      {
        config: { auth: anyRole },
        schema: { tags: ["api-keys"], params: idParams, response: { 200: listOf(apiKeyDto), ...errors } },
      },
      async (req) => ({ items: await users.listApiKeys(principalOf(req), req.params.id) }),
    );
    app.delete(
      "/users/:id/api-keys/:keyId",
      {
        config: { auth: anyRole },
        schema: {
          tags: ["api-keys"],
          params: z.object({ id: ref, keyId: ref }),
          response: { ...noContent, ...errors },
        },
      },
      async (req, reply) => {
        await users.revokeApiKey(actorOf(req), req.params.id, req.params.keyId);
        return reply.status(204).send(null);
      },
    );
  };
}
