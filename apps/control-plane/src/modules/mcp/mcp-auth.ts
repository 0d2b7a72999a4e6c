import type { FastifyReply, FastifyRequest } from "fastify";
import type { Principal } from "../../server/principal";
import type { AuthService } from "../auth/auth.service";
import { ACCESS_TOKEN_PREFIX } from "../auth/tokens.service";
import type { KeysService } from "../keys/keys.service";
import { resourceMetadataUrl } from "../oauth/metadata";

/** How long the in-process token the endpoint acts with lives; it never leaves the process. */
const ACTING_TOKEN_TTL_SECONDS = 120;

export interface McpCaller {
  principal: Principal;
  /** A credential for this control plane's REST API that acts as the caller, never more. */
  credential(): Promise<string>;
  /** Values never to appear in a tool result. */
  secrets: string[];
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, "")}"`;
}

/** Answers 401 with the RFC 9728 `resource_metadata` pointer an MCP client discovers authorization from. */
export function challenge(reply: FastifyReply, publicUrl: string, error?: string): FastifyReply {
  const parts = [`resource_metadata=${quoted(resourceMetadataUrl(publicUrl))}`];
  if (error) parts.unshift(`error="invalid_token", error_description=${quoted(error)}`);
  return reply
    .status(401)
    .header("www-authenticate", `Bearer ${parts.join(", ")}`)
    .header("cache-control", "no-store")
    .send({
      error: error ? "invalid_token" : "unauthorized",
      error_description: error ?? "authentication required",
    });
}

/**
 * Authenticates a request to /mcp: a Sluice API key, or an access token whose audience is
 * this MCP endpoint (tokens for the REST API or anything else are refused). Undefined after
 * the 401 has been sent.
 */
export async function authenticateMcp(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: {
    auth: Pick<AuthService, "authenticate">;
    keys: Pick<KeysService, "signAccessToken">;
    publicUrl: string;
    resource: string;
  },
): Promise<McpCaller | undefined> {
  const header = req.headers.authorization;
  if (typeof header !== "string" || header.length === 0) {
    challenge(reply, deps.publicUrl);
    return undefined;
  }
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(header.trim());
  if (!m?.[1]) {
    challenge(reply, deps.publicUrl, "malformed Authorization header");
    return undefined;
  }
  const token = m[1];
  let principal: Principal;
  try {
    principal = await deps.auth.authenticate(token, deps.resource);
  } catch {
    challenge(reply, deps.publicUrl, "the token is invalid, expired, revoked or for another audience");
    return undefined;
  }
  if (principal.via === "api_key") return { principal, credential: async () => token, secrets: [token] };
  return {
    principal,
    secrets: [token],
    credential: async () => {
      const claims = { sub: principal.userId, fam: principal.credentialId };
      const { token: acting } = await deps.keys.signAccessToken(claims, ACTING_TOKEN_TTL_SECONDS);
      return `${ACCESS_TOKEN_PREFIX}${acting}`;
    },
  };
}
