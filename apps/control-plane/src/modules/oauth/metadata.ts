/** Where the MCP endpoint lives: the resource its tokens are bound to (RFC 8707). */
export const mcpResource = (publicUrl: string) => `${publicUrl}/mcp`;

/** Where a client finds the protected-resource metadata of the MCP endpoint. */
export const resourceMetadataUrl = (publicUrl: string) =>
  `${publicUrl}/.well-known/oauth-protected-resource/mcp`;

/** RFC 9728 protected-resource metadata: the MCP endpoint, with the CP as its authorization server. */
export function protectedResourceMetadata(publicUrl: string) {
  return {
    resource: mcpResource(publicUrl),
    authorization_servers: [publicUrl],
    bearer_methods_supported: ["header"],
    resource_name: "Sluice",
    resource_documentation: `${publicUrl}/api/v1/openapi.json`,
  };
}

/** RFC 8414 authorization-server metadata. */
export function authorizationServerMetadata(publicUrl: string) {
  return {
    issuer: publicUrl,
    authorization_endpoint: `${publicUrl}/oauth/authorize`,
    token_endpoint: `${publicUrl}/oauth/token`,
    registration_endpoint: `${publicUrl}/oauth/register`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: [
      "authorization_code",
      "client_credentials",
      "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post"],
    authorization_response_iss_parameter_supported: true,
  };
}
