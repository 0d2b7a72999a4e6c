import type { FastifyReply } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { TOKEN_EXCHANGE_GRANT } from "../auth/auth.routes";
import { OAuthError } from "../auth/oauth-error";
import type { TokenResponse } from "../auth/tokens.service";
import type { TokenExchangeService } from "../identity/token-exchange.service";
import { clientCredentialsOf } from "./client-credentials";
import type { McpOAuth } from "./oauth.service";

const publicRoute = { auth: "public" as const, errorFormat: "oauth" as const };
const text = (max: number) => z.string().max(max).optional();
const oauthError = z.object({ error: z.string(), error_description: z.string() });
const tokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number(),
  refresh_token: z.string().optional(),
  issued_token_type: z.string(),
});
const tokenBody = z
  .object({
    grant_type: text(100),
    code: text(200),
    redirect_uri: text(500),
    code_verifier: text(200),
    client_id: text(4096),
    client_secret: text(4096),
    resource: text(500),
    scope: text(500),
    subject_token: text(16_384),
    subject_token_type: text(200),
  })
  .describe("application/x-www-form-urlencoded");

type TokenBody = z.infer<typeof tokenBody>;
interface Deps {
  oauth: McpOAuth;
  exchange: Pick<TokenExchangeService, "exchange">;
}

/** One token request, by grant type; every token is bound to the MCP resource. */
function grant(deps: Deps, b: TokenBody, header: string | undefined, ip: string): Promise<TokenResponse> {
  const as = deps.oauth;
  const creds = clientCredentialsOf(header, b);
  switch (b.grant_type) {
    case "authorization_code":
      if (!b.code) throw new OAuthError("invalid_request", "code is required");
      return as.exchangeCode(
        {
          code: b.code,
          redirectUri: b.redirect_uri,
          verifier: b.code_verifier,
          clientId: creds.clientId,
          resource: b.resource,
        },
        ip,
      );
    case "client_credentials":
      return as.clientCredentials(creds, b.resource, ip);
    case TOKEN_EXCHANGE_GRANT:
      return deps.exchange.exchange(
        {
          subjectToken: b.subject_token ?? "",
          subjectTokenType: b.subject_token_type ?? "",
          resource: b.resource ?? as.resource(),
        },
        ip,
      );
    case undefined:
      throw new OAuthError("invalid_request", "grant_type is required");
    default:
      throw new OAuthError("unsupported_grant_type", "grant_type is not supported here");
  }
}

async function oauth<T>(reply: FastifyReply, fn: () => Promise<T>) {
  void reply.header("cache-control", "no-store").header("pragma", "no-cache");
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OAuthError) return reply.status(err.status).send(err.toJSON());
    throw err;
  }
}

/** The token endpoint of the MCP resource's authorization server. */
export function tokenRoutes(deps: Deps): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      "/oauth/token",
      {
        config: publicRoute,
        schema: {
          tags: ["oauth"],
          security: [],
          description:
            "Token endpoint for the MCP resource: authorization_code (with PKCE), client_credentials " +
            "(a service identity's name and API key) and token exchange (RFC 8693, a trusted issuer's " +
            "JWT). Tokens are bound to <publicUrl>/mcp.",
          body: tokenBody,
          response: { 200: tokenResponse, 400: oauthError, 401: oauthError },
        },
      },
      async (req, reply) =>
        oauth(reply, async () => {
          return grant(deps, req.body, req.headers.authorization, req.ip);
        }),
    );
  };
}
