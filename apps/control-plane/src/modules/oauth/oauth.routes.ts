import type { FastifyReply } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { OAuthError } from "../auth/oauth-error";
import type { TokenExchangeService } from "../identity/token-exchange.service";
import { RedirectedError } from "./authorization";
import { consentRoutes } from "./consent.routes";
import { authorizationServerMetadata, protectedResourceMetadata } from "./metadata";
import type { McpOAuth } from "./oauth.service";
import { tokenRoutes } from "./token.routes";

const publicRoute = { auth: "public" as const, errorFormat: "oauth" as const };
const text = (max: number) => z.string().max(max).optional();
const oauthError = z.object({ error: z.string(), error_description: z.string() });
const registered = z.object({
  client_id: z.string(),
  client_id_issued_at: z.number(),
  client_name: z.string().optional(),
  redirect_uris: z.array(z.string()),
  grant_types: z.array(z.string()),
  response_types: z.array(z.string()),
  token_endpoint_auth_method: z.string(),
});

const authorizeQuery = z.object({
  response_type: text(50),
  client_id: text(4096),
  redirect_uri: text(500),
  code_challenge: text(200),
  code_challenge_method: text(20),
  state: text(1000),
  resource: text(500),
  scope: text(500),
});

const registration = z.looseObject({
  redirect_uris: z.array(z.string().max(500)).max(5),
  client_name: text(500),
  grant_types: z.array(z.string().max(100)).max(10).optional(),
  response_types: z.array(z.string().max(100)).max(10).optional(),
  token_endpoint_auth_method: text(100),
  scope: text(500),
});

async function oauth<T>(reply: FastifyReply, fn: () => Promise<T>) {
  void reply.header("cache-control", "no-store").header("pragma", "no-cache");
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OAuthError) return reply.status(err.status).send(err.toJSON());
    throw err;
  }
}

/** RFC 9728 / 8414 metadata, RFC 7591 registration, and the authorize, consent and token endpoints. */
export function oauthRoutes(deps: {
  oauth: McpOAuth;
  exchange: Pick<TokenExchangeService, "exchange">;
}): FastifyPluginAsyncZod {
  const { oauth: as } = deps;
  return async (app) => {
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    await app.register(consentRoutes({ flow: as.authorization }));
    await app.register(tokenRoutes(deps));
    const meta = { config: publicRoute, schema: { tags: ["oauth"], security: [] } };
    const prm = async () => protectedResourceMetadata(as.publicUrl());
    app.get("/.well-known/oauth-protected-resource", meta, prm);
    app.get("/.well-known/oauth-protected-resource/mcp", meta, prm);
    app.get("/.well-known/oauth-authorization-server", meta, async () =>
      authorizationServerMetadata(as.publicUrl()),
    );

    app.post(
      "/oauth/register",
      {
        config: publicRoute,
        schema: {
          tags: ["oauth"],
          security: [],
          description: "Dynamic client registration (RFC 7591) for public clients using code + PKCE.",
          body: registration,
          response: { 201: registered, 400: oauthError },
        },
      },
      async (req, reply) =>
        oauth(reply, async () => {
          const client = as.clients.register({
            redirectUris: req.body.redirect_uris,
            name: req.body.client_name,
          });
          return reply.status(201).send({
            client_id: client.clientId,
            client_id_issued_at: Math.floor(Date.now() / 1000),
            client_name: client.name || undefined,
            redirect_uris: client.redirectUris,
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          });
        }),
    );

    app.get(
      "/oauth/authorize",
      {
        config: publicRoute,
        schema: {
          tags: ["oauth"],
          security: [],
          description: "Authorization endpoint: code + PKCE (S256); the person signs in at the IdP.",
          querystring: authorizeQuery,
        },
      },
      async (req, reply) =>
        oauth(reply, async () => {
          try {
            return reply.redirect(await as.authorization.begin(req.query), 302);
          } catch (err) {
            if (err instanceof RedirectedError) return reply.redirect(err.location, 302);
            throw err;
          }
        }),
    );
  };
}
