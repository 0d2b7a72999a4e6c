import { AppError } from "@sluice/errors";
import type { FastifyReply } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { actorOf, principalOf } from "../../server/auth";
import { anyRole, errors, noContent } from "../../server/route-helpers";
import type { OidcLoginService } from "../identity/oidc-login.service";
import type { TokenExchangeService } from "../identity/token-exchange.service";
import type { AuthorizationFlow } from "../oauth/authorization";
import { OAuthError } from "./oauth-error";
import type { TokensService } from "./tokens.service";

export const REFRESH_GRANT = "refresh_token";
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
export const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

const oauthError = z.object({ error: z.string(), error_description: z.string() });
const oauthErrors = { 400: oauthError, 401: oauthError, 503: oauthError };
const tokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number(),
  refresh_token: z.string().optional(),
  issued_token_type: z.string(),
});
const optionalText = z.string().max(16_384).optional();
const tokenRequest = z
  .object({
    grant_type: optionalText,
    refresh_token: optionalText,
    subject_token: optionalText,
    subject_token_type: optionalText,
    audience: optionalText,
    requested_token_type: optionalText,
    resource: optionalText,
    scope: optionalText,
    device_code: optionalText,
  })
  .describe("application/x-www-form-urlencoded or JSON");
const loopback = z
  .string()
  .url()
  .max(500)
  .refine((v) => {
    const u = new URL(v);
    return u.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  }, "must be a loopback http URL (http://127.0.0.1:<port>/...)");
const publicRoute = { auth: "public" as const, errorFormat: "oauth" as const };

async function oauth<T>(reply: FastifyReply, fn: () => Promise<T>) {
  void reply.header("cache-control", "no-store").header("pragma", "no-cache");
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OAuthError) {
      if (err.status >= 500) reply.log.warn({ err }, "token request failed upstream");
      return reply.status(err.status).send(err.toJSON());
    }
    throw err;
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new OAuthError("invalid_request", `${name} is required`);
  return value;
}

export function authRoutes(deps: {
  tokens: TokensService;
  exchange: TokenExchangeService;
  oidc: OidcLoginService;
  publicUrl: () => string;
  /** Browser logins started by the MCP authorization endpoint finish there, not here. */
  mcpLogin?: Pick<AuthorizationFlow, "owns" | "complete">;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 64 * 1024 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );

    app.post(
      "/auth/token",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          description:
            "OAuth 2.0 token endpoint: grant_type=refresh_token (rotating refresh tokens), " +
            "urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693, a trusted issuer's JWT; with " +
            "resource=<publicUrl>/mcp the token is for the MCP endpoint) " +
            "and urn:ietf:params:oauth:grant-type:device_code.",
          body: tokenRequest,
          response: { 200: tokenResponse, ...oauthErrors },
        },
      },
      async (req, reply) =>
        oauth(reply, async () => {
          const b = req.body;
          switch (b.grant_type) {
            case REFRESH_GRANT:
              return deps.tokens.refresh(required(b.refresh_token, "refresh_token"), req.ip);
            case TOKEN_EXCHANGE_GRANT:
              return deps.exchange.exchange(
                {
                  subjectToken: required(b.subject_token, "subject_token"),
                  subjectTokenType: required(b.subject_token_type, "subject_token_type"),
                  audience: b.audience,
                  resource: b.resource,
                },
                req.ip,
              );
            case DEVICE_GRANT:
              return deps.oidc.pollDevice(required(b.device_code, "device_code"), req.ip);
            case undefined:
              throw new OAuthError("invalid_request", "grant_type is required");
            default:
              throw new OAuthError(
                "unsupported_grant_type",
                `grant_type ${b.grant_type.slice(0, 100)} is not supported`,
              );
          }
        }),
    );

    app.post(
      "/auth/logout",
      {
        config: { auth: anyRole },
        schema: {
          tags: ["auth"],
          description:
            "Revokes the caller's login (its refresh tokens and access tokens) and ends its sessions.",
          response: { ...noContent, ...errors },
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        if (p.via !== "access_token") {
          throw new AppError(
            "request.invalid",
            "logout ends a token login; revoke API keys with the api-keys API",
          );
        }
        await deps.tokens.revokeFamily(actorOf(req), p.credentialId, "logged out");
        return reply.status(204).send(null);
      },
    );

    app.post(
      "/auth/oidc/start",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          description:
            "Starts an authorization-code + PKCE login; the IdP redirects to redirectUri (loopback).",
          body: z.object({ redirectUri: loopback }).strict(),
          response: {
            200: z.object({ authorizationUrl: z.string(), state: z.string(), expiresIn: z.number() }),
            ...oauthErrors,
          },
        },
      },
      async (req, reply) => oauth(reply, () => deps.oidc.start(req.body.redirectUri)),
    );

    app.post(
      "/auth/oidc/callback",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          body: z
            .object({
              code: z.string().min(1).max(4096),
              state: z.string().min(1).max(200),
              iss: z.string().max(500).optional(),
            })
            .strict(),
          response: { 200: tokenResponse, ...oauthErrors },
        },
      },
      async (req, reply) => oauth(reply, () => deps.oidc.callback(req.body, req.ip)),
    );

    app.post(
      "/auth/device",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          description: "Starts a device-flow login; poll /auth/device/poll with the returned device_code.",
          response: {
            200: z.object({
              device_code: z.string(),
              user_code: z.string(),
              verification_uri: z.string(),
              verification_uri_complete: z.string().optional(),
              expires_in: z.number(),
              interval: z.number(),
            }),
            ...oauthErrors,
          },
        },
      },
      async (_req, reply) => oauth(reply, () => deps.oidc.startDevice()),
    );

    app.post(
      "/auth/device/poll",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          description: "Answers 400 authorization_pending until the user approved the login at the IdP.",
          body: z.object({ device_code: z.string().min(1).max(200) }).strict(),
          response: { 200: tokenResponse, ...oauthErrors },
        },
      },
      async (req, reply) => oauth(reply, () => deps.oidc.pollDevice(req.body.device_code, req.ip)),
    );

    app.get(
      "/auth/login",
      {
        config: publicRoute,
        schema: { tags: ["auth"], security: [], description: "Browser login: redirects to the IdP." },
      },
      async (_req, reply) =>
        oauth(reply, async () => {
          const { authorizationUrl } = await deps.oidc.start(`${deps.publicUrl()}/api/v1/auth/callback`);
          return reply.redirect(authorizationUrl, 302);
        }),
    );

    app.get(
      "/auth/callback",
      {
        config: publicRoute,
        schema: {
          tags: ["auth"],
          security: [],
          description: "Where the IdP returns the browser; answers with Sluice tokens as JSON.",
          querystring: z.object({
            code: z.string().max(4096).optional(),
            state: z.string().max(200).optional(),
            iss: z.string().max(500).optional(),
            error: z.string().max(200).optional(),
            error_description: z.string().max(1000).optional(),
          }),
          response: { 200: tokenResponse, ...oauthErrors },
        },
      },
      async (req, reply) =>
        oauth(reply, async () => {
          const q = req.query;
          if (deps.mcpLogin && (await deps.mcpLogin.owns(q.state))) {
            const location = await deps.mcpLogin.complete({ ...q, state: q.state ?? "" }, req.ip);
            return reply.redirect(location, 302);
          }
          if (q.error) throw new OAuthError("access_denied", q.error_description ?? q.error);
          return deps.oidc.callback(
            { code: required(q.code, "code"), state: required(q.state, "state"), iss: q.iss },
            req.ip,
          );
        }),
    );
  };
}
