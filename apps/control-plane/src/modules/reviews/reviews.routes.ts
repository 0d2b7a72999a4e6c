import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf, principalOf } from "../../server/auth";
import { anyRole, errors } from "../../server/route-helpers";
import { createReviewBody, decideReviewBody, listReviewsQuery, reviewDto } from "./reviews.schemas";
import type { ReviewsService } from "./reviews.service";

export function reviewsRoutes(deps: { reviews: ReviewsService }): FastifyPluginAsyncZod {
  const { reviews } = deps;
  const tags = ["reviews"];
  const decision = (verb: "approve" | "deny") =>
    ({
      config: { auth: anyRole },
      schema: {
        tags,
        description: `${verb === "approve" ? "Approves" : "Denies"} a pending review. Only members of its reviewer groups, never the requester; one decision per reviewer. ${verb === "approve" ? "It is approved once it has its minimum approvals." : "One denial decides it."}`,
        params: idParams,
        body: decideReviewBody,
        response: { 200: reviewDto, ...errors },
      },
    }) as const;

  return async (app) => {
    app.post(
      "/reviews",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Asks for just-in-time access to a connection that requires approval. The review waits for the connection's reviewer groups.",
          body: createReviewBody,
          response: { 201: reviewDto, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await reviews.requestAccess(actorOf(req), req.body)),
    );
    app.get(
      "/reviews",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Reviews you requested or may decide (all reviews for admins and auditors), newest first.",
          querystring: listReviewsQuery,
          response: { 200: listOf(reviewDto), ...errors },
        },
      },
      async (req) => ({ items: await reviews.list(principalOf(req), req.query) }),
    );
    app.get(
      "/reviews/:id",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description: "One review, with the statement text and every decision.",
          params: idParams,
          response: { 200: reviewDto, ...errors },
        },
      },
      async (req) => reviews.get(principalOf(req), req.params.id),
    );
    app.post("/reviews/:id/approve", decision("approve"), async (req) =>
      reviews.decide(actorOf(req), req.params.id, "approve", req.body?.comment),
    );
    app.post("/reviews/:id/deny", decision("deny"), async (req) =>
      reviews.decide(actorOf(req), req.params.id, "deny", req.body?.comment),
    );
    app.post(
      "/reviews/:id/revoke",
      {
        config: { auth: anyRole },
        schema: {
          tags,
          description:
            "Withdraws a pending review or takes back an approval (requester, eligible reviewer or admin). Revoking access ends the requester's live sessions on the connection.",
          params: idParams,
          body: decideReviewBody,
          response: { 200: reviewDto, ...errors },
        },
      },
      async (req) => reviews.revoke(actorOf(req), req.params.id, req.body?.comment),
    );
  };
}
