import { AppError } from "@sluice/errors";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Db } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, noContent, readers } from "../../server/route-helpers";
import {
  createTrustedIssuerBody,
  idpGroupMappingBody,
  idpGroupMappingDto,
  trustedIssuerDto,
  updateTrustedIssuerBody,
} from "./trusted-issuers.schemas";
import type { TrustedIssuersService } from "./trusted-issuers.service";

const tags = ["identity"];

export function identityRoutes(deps: { issuers: TrustedIssuersService; prisma: Db }): FastifyPluginAsyncZod {
  const { issuers, prisma } = deps;
  return async (app) => {
    app.get(
      "/trusted-issuers",
      { config: { auth: readers }, schema: { tags, response: { 200: listOf(trustedIssuerDto), ...errors } } },
      async () => ({ items: await issuers.list() }),
    );
    app.post(
      "/trusted-issuers",
      {
        config: { auth: admins },
        schema: {
          tags,
          description: "Trusts an issuer's JWTs (e.g. CI OIDC tokens) for token exchange at /auth/token.",
          body: createTrustedIssuerBody,
          response: { 201: trustedIssuerDto, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await issuers.create(actorOf(req), req.body)),
    );
    app.get(
      "/trusted-issuers/:id",
      {
        config: { auth: readers },
        schema: { tags, params: idParams, response: { 200: trustedIssuerDto, ...errors } },
      },
      async (req) => issuers.get(req.params.id),
    );
    app.patch(
      "/trusted-issuers/:id",
      {
        config: { auth: admins },
        schema: {
          tags,
          params: idParams,
          body: updateTrustedIssuerBody,
          response: { 200: trustedIssuerDto, ...errors },
        },
      },
      async (req) => issuers.update(actorOf(req), req.params.id, req.body),
    );
    app.delete(
      "/trusted-issuers/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        await issuers.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      "/idp-group-mappings",
      {
        config: { auth: readers },
        schema: { tags, response: { 200: listOf(idpGroupMappingDto), ...errors } },
      },
      async () => {
        const rows = await prisma.idpGroupMapping.findMany({
          include: { group: true },
          orderBy: { createdAt: "asc" },
        });
        return {
          items: rows.map((r) => ({
            id: r.id,
            idpGroup: r.idpGroup,
            group: r.group.name,
            createdAt: r.createdAt.toISOString(),
          })),
        };
      },
    );
    app.post(
      "/idp-group-mappings",
      {
        config: { auth: admins },
        schema: {
          tags,
          description:
            "Members of the IdP group (from the OIDC groups claim) join the Sluice group at login.",
          body: idpGroupMappingBody,
          response: { 201: idpGroupMappingDto, ...errors },
        },
      },
      async (req, reply) => {
        const group = await prisma.group.findUnique({ where: { name: req.body.group } });
        if (!group) throw new AppError("group.not_found", `group ${req.body.group} not found`);
        const exists = await prisma.idpGroupMapping.findFirst({
          where: { idpGroup: req.body.idpGroup, groupId: group.id },
        });
        if (exists) throw new AppError("idp_group_mapping.exists", "this mapping exists already");
        const row = await issuers.addMapping(actorOf(req), req.body.idpGroup, group.id);
        return reply.status(201).send({
          id: row.id,
          idpGroup: row.idpGroup,
          group: group.name,
          createdAt: row.createdAt.toISOString(),
        });
      },
    );
    app.delete(
      "/idp-group-mappings/:id",
      { config: { auth: admins }, schema: { tags, params: idParams, response: { ...noContent, ...errors } } },
      async (req, reply) => {
        const row = isUuid(req.params.id)
          ? await prisma.idpGroupMapping.findUnique({ where: { id: req.params.id } })
          : null;
        if (!row) throw new AppError("idp_group_mapping.not_found", "mapping not found");
        await issuers.removeMapping(actorOf(req), row.id);
        return reply.status(204).send(null);
      },
    );
  };
}
