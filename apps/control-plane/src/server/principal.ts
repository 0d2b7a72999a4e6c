import type { Role } from "@sluice/db";

/** The authenticated caller of a REST request or gRPC call. */
export interface Principal {
  userId: string;
  name: string;
  role: Role;
  kind: "human" | "service";
  groups: string[];
  via: "api_key" | "access_token" | "ssh_key" | "ssh_certificate";
  credentialId: string;
  /** An API key's scopes; empty or absent: the user's full rights (see auth/api-key-scopes.ts). */
  scopes?: string[];
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed to call the route; `"public"` skips authentication. */
    auth?: "public" | Role[];
    /** `"oauth"`: failures are answered as RFC 6749 `{ error, error_description }`. */
    errorFormat?: "oauth";
  }
}
