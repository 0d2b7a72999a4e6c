import { AppError } from "@sluice/errors";

/**
 * A credential reference, as stored on a connection. The control plane only ever
 * holds the reference; the agent resolves it to a secret locally.
 *   env:NAME                       environment variable of the agent process
 *   file:/abs/path                 file on the agent host (e.g. a mounted secret)
 *   vault:mount/path#field         static secret in Vault (KV v1 or v2)
 *   vault-db:mount/creds/role      dynamic database credentials leased per session
 */
export interface CredentialReference {
  scheme: "env" | "file" | "vault" | "vault-db";
  path: string;
  field?: string;
  /** The reference as written, safe to show in errors. */
  raw: string;
}

const MAX_REF = 500;

export function parseReference(raw: string): CredentialReference {
  if (raw.length === 0 || raw.length > MAX_REF) {
    throw new AppError("credential.invalid_reference", "credential reference must be 1-500 characters");
  }
  const colon = raw.indexOf(":");
  const scheme = raw.slice(0, colon);
  const rest = raw.slice(colon + 1);
  switch (scheme) {
    case "env":
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(rest)) break;
      return { scheme, path: rest, raw };
    case "file":
      if (!rest.startsWith("/") || rest.includes("\0")) break;
      return { scheme, path: rest, raw };
    case "vault": {
      const [path, field] = rest.split("#");
      if (!path || !field || rest.split("#").length !== 2) break;
      return { scheme, path, field, raw };
    }
    case "vault-db":
      if (!/^[A-Za-z0-9_./-]{1,300}$/.test(rest)) break;
      return { scheme, path: rest, raw };
  }
  throw new AppError(
    "credential.invalid_reference",
    `unsupported credential reference ${JSON.stringify(raw.slice(0, 60))}: use env:NAME, file:/path, vault:path#field or vault-db:path`,
  );
}
