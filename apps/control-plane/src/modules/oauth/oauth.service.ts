import type { Db } from "../../lib/db";
import type { AuthService } from "../auth/auth.service";
import type { TokensService } from "../auth/tokens.service";
import type { OidcLoginService } from "../identity/oidc-login.service";
import { createAuthorizationFlow } from "./authorization";
import { createClientCredentialsGrant } from "./client-credentials";
import { createClientRegistry } from "./clients";
import { createCodeExchange } from "./code-exchange";
import { mcpResource } from "./metadata";

/** The control plane as the OAuth 2.1 authorization server of its MCP endpoint. */
export function createMcpOAuth(deps: {
  prisma: Db;
  tokens: Pick<TokensService, "issue">;
  oidc: Pick<OidcLoginService, "start" | "callbackPerson">;
  auth: Pick<AuthService, "authenticateApiKey">;
  masterKey: Buffer;
  publicUrl: () => string;
}) {
  const resource = () => mcpResource(deps.publicUrl());
  const clients = createClientRegistry(deps.masterKey);
  return {
    publicUrl: deps.publicUrl,
    resource,
    clients,
    authorization: createAuthorizationFlow({ ...deps, clients, resource }),
    exchangeCode: createCodeExchange({ ...deps, clients }),
    clientCredentials: createClientCredentialsGrant({ ...deps, resource }),
  };
}

export type McpOAuth = ReturnType<typeof createMcpOAuth>;
