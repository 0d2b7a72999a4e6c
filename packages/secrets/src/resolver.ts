import { AppError } from "@sluice/errors";
import { type CredentialReference, parseReference } from "./reference";

/** A resolved credential. `lease` is present for per-session dynamic credentials. */
export interface ResolvedCredential {
  /** The secret (password or private key). Never log it. */
  secret: string;
  /** Overrides the connection's username (dynamic credentials create their own user). */
  username?: string;
  /** Release the credential when the session ends (revokes a dynamic lease). */
  release?: () => Promise<void>;
}

export interface ResolveContext {
  /** Connection name, for error messages. */
  connection: string;
  sessionId?: string;
}

export interface SecretProvider {
  readonly schemes: readonly CredentialReference["scheme"][];
  resolve(ref: CredentialReference, ctx: ResolveContext): Promise<ResolvedCredential>;
  close?(): Promise<void>;
}

export interface SecretResolver {
  resolve(rawRef: string, ctx: ResolveContext): Promise<ResolvedCredential>;
  close(): Promise<void>;
}

/** Dispatches a reference to the provider for its scheme. Errors name the connection, never the secret. */
export function createSecretResolver(providers: readonly SecretProvider[]): SecretResolver {
  return {
    async resolve(rawRef, ctx) {
      const ref = parseReference(rawRef);
      const provider = providers.find((p) => p.schemes.includes(ref.scheme));
      if (!provider) {
        throw new AppError(
          "credential.unresolvable",
          `credential for connection ${ctx.connection} uses ${ref.scheme}: references, which this agent is not configured for`,
        );
      }
      return provider.resolve(ref, ctx);
    },
    async close() {
      await Promise.all(providers.map((p) => p.close?.()));
    },
  };
}
