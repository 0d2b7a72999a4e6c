import { AppError } from "@sluice/errors";
import type { SecretProvider } from "./resolver";

/** Resolves `env:NAME` from the environment object the agent was started with. */
export function createEnvProvider(env: Readonly<Record<string, string | undefined>>): SecretProvider {
  return {
    schemes: ["env"],
    async resolve(ref, ctx) {
      const value = env[ref.path];
      if (value === undefined || value === "") {
        throw new AppError(
          "credential.unresolvable",
          `credential for connection ${ctx.connection} is unavailable: environment variable ${ref.path} is not set on the agent`,
        );
      }
      return { secret: value };
    },
  };
}
