import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, noContent, readers } from "../../server/route-helpers";
import {
  createPolicyBody,
  evaluateBody,
  evaluationDto,
  policyDto,
  updatePolicyBody,
} from "./policies.schemas";
import type { PoliciesService } from "./policies.service";

export function policiesRoutes(deps: { policies: PoliciesService }): FastifyPluginAsyncZod {
  const { policies } = deps;
  const tags = ["policies"];
  return async (app) => {
    app.get(
      "/policies",
      { config: { auth: readers }, schema: { tags, response: { 200: listOf(policyDto), ...errors } } },
      async () => ({
        items: await policies.list(),
      }),
    );
    app.post(
      "/policies",
      {
        config: { auth: admins },
        schema: { tags, body: createPolicyBody, response: { 201: policyDto, ...errors } },
      },
      async (req, reply) => reply.status(201).send(await policies.create(actorOf(req), req.body)),
    );
    app.get(
      "/policies/:id",
      {
        config: { auth: readers },
        schema: { tags, params: idParams, response: { 200: policyDto, ...errors } },
      },
      async (req) => policies.get(req.params.id),
    );
    app.patch(
      "/policies/:id",
      {
        config: { auth: admins },
        schema: { tags, params: idParams, body: updatePolicyBody, response: { 200: policyDto, ...errors } },
      },
      async (req) => policies.update(actorOf(req), req.params.id, req.body),
    );
    app.post(
      "/policies/:id/evaluate",
      {
        config: { auth: readers },
        schema: {
          tags,
          summary: "Dry run: what a statement (and sample values) would trigger under this policy",
          params: idParams,
          body: evaluateBody,
          response: { 200: evaluationDto, ...errors },
        },
      },
      async (req) => policies.evaluate(req.params.id, req.body),
    );
    app.delete(
      "/policies/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        await policies.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
