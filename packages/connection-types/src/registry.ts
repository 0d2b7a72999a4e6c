import { z } from "zod";

/** A field of a connection every type may use; `requires` names the ones a type cannot do without. */
export type ConnectionField = "database" | "username" | "credentialRef";

/** Who connects how: the hints the CLI and the console print for a connection of this type. */
export interface ConnectHints {
  /** The client people use natively, e.g. `psql`. */
  client: string;
  /** The agent's native listener endpoint (announced by the agent), if the type has one. */
  nativeEndpoint?: string;
  /** One line that works through the tunnel for connection `name`. */
  tunnel(name: string): string;
}

export interface ConnectionTypeSpec {
  name: string;
  /** Shown in lists and help. */
  title: string;
  defaultPort: number;
  requires: readonly ConnectionField[];
  /** What the agent enforces on sessions of this type. */
  enforces: readonly string[];
  /** The per-type settings object (`ssh: {...}`, `mysql: {...}`), when the type has one. */
  settings?: { key: string; schema: z.ZodType };
  /** Whether guardrail and masking rules written in SQL apply, and in which dialect. */
  sqlDialect?: "postgres" | "mysql";
  hints: ConnectHints;
}

const sshSettings = z.strictObject({
  hostKey: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "must be an OpenSSH SHA256 fingerprint, e.g. SHA256:abc…")
    .optional(),
  trustOnFirstUse: z.boolean().optional(),
  allowPortForwarding: z.boolean().optional(),
});

const mysqlSettings = z.strictObject({
  /** `LOAD DATA LOCAL INFILE` reads files from the client's disk; off unless a policy rule allows it. */
  allowLocalInfile: z.boolean().optional(),
  /** Server RSA public key (PEM) for caching_sha2_password full authentication without TLS. */
  serverPublicKeyPem: z.string().max(10_000).optional(),
});

/**
 * A credential reference names where the agent finds the secret. It is never the
 * secret itself: only these forms are accepted.
 */
export const credentialRef = z
  .string()
  .max(500)
  .regex(
    /^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:\/[^\0]{1,400}|vault:[A-Za-z0-9_./-]{1,300}#[A-Za-z0-9_.-]{1,100}|vault-db:[A-Za-z0-9_./-]{1,300})$/,
    "must be a reference such as env:NAME, file:/path, vault:mount/path#field or vault-db:mount/creds/role",
  );

/** How the agent puts the credential it holds on each upstream request. */
export const httpInjectKinds = ["bearer", "basic", "header", "query", "none"] as const;

const httpSettings = z
  .strictObject({
    /** The upstream path prefix requests are served under (`/api`); clients never see it. */
    basePath: z
      .string()
      .max(500)
      .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, "must be a path starting with /")
      .optional(),
    inject: z
      .strictObject({
        kind: z.enum(httpInjectKinds),
        /** The header (`X-Api-Key`) or query parameter (`api_key`) for kind header or query. */
        name: z
          .string()
          .min(1)
          .max(100)
          .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header or parameter name")
          .optional(),
      })
      .refine((i) => (i.kind === "header" || i.kind === "query") === (i.name !== undefined), {
        message: "name is required for inject kinds header and query, and only for them",
      })
      .optional(),
    /** Where the agent finds the PEM client certificate and key for mTLS to the upstream. */
    clientCertificateRef: credentialRef.optional(),
    /** Request and response body bytes kept in recordings per request (masked); default 4096. */
    recordBodyBytes: z.number().int().min(0).max(1_048_576).optional(),
    /** Pass responses whose content type cannot be masked when masking applies (default: refuse them). */
    passUnmaskableContent: z.boolean().optional(),
  })
  .refine(
    (s) =>
      !s.inject ||
      s.inject.kind !== "header" ||
      !/^(host|content-length|transfer-encoding|connection)$/i.test(s.inject.name ?? ""),
    {
      message: "the credential cannot be injected into a framing header",
    },
  );

/** A group name on the cluster side: what RBAC bindings name (`system:masters` is refused). */
const kubeGroup = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9:._@-]*$/, "must be a Kubernetes group name")
  .refine((g) => !g.startsWith("system:"), "system: groups cannot be impersonated through Sluice");

const kubernetesSettings = z.strictObject({
  /**
   * Every upstream request impersonates the Sluice identity (Impersonate-User) and its
   * groups (Impersonate-Group), so the cluster's RBAC and audit log see the person. On by
   * default; off sends requests as the agent's own credential.
   */
  impersonate: z.boolean().optional(),
  /** Sluice group → cluster group; groups not named here are sent with `groupPrefix`. */
  groupMapping: z
    .record(z.string().min(1).max(63), kubeGroup)
    .refine((m) => Object.keys(m).length <= 200, "map at most 200 groups")
    .optional(),
  /** Prepended to Sluice group names that have no mapping (default `sluice:`). */
  groupPrefix: z
    .string()
    .max(63)
    .regex(/^[A-Za-z0-9:._-]*$/, "must be letters, digits, ':', '.', '_' or '-'")
    .refine((g) => !g.startsWith("system:"), "system: groups cannot be impersonated through Sluice")
    .optional(),
  /** Where the agent finds the PEM client certificate and key it presents to the API server. */
  clientCertificateRef: credentialRef.optional(),
});

const sqlEnforces = ["guardrails", "masking", "reviews", "recording", "cancel"] as const;

/**
 * Every connection type Sluice serves, declared once: the control plane validates with
 * it, the CLI lists and hints from it, and the agent checks its protocol handlers
 * against it. Adding a type is an entry here, a folder under the agent's protocols/,
 * one migration (the database enum) and the docs.
 */
export const connectionTypeSpecs = {
  postgres: {
    name: "postgres",
    title: "PostgreSQL",
    defaultPort: 5432,
    requires: ["database", "username"],
    enforces: sqlEnforces,
    sqlDialect: "postgres",
    hints: {
      client: "psql",
      nativeEndpoint: "postgres",
      tunnel: (name) => `sluice connect ${name} --port 5433   # then: psql "host=127.0.0.1 port=5433"`,
    },
  },
  mysql: {
    name: "mysql",
    title: "MySQL / MariaDB",
    defaultPort: 3306,
    requires: ["database", "username"],
    enforces: sqlEnforces,
    settings: { key: "mysql", schema: mysqlSettings },
    sqlDialect: "mysql",
    hints: {
      client: "mysql",
      nativeEndpoint: "mysql",
      tunnel: (name) => `sluice connect ${name} --port 3307   # then: mysql -h 127.0.0.1 -P 3307`,
    },
  },
  ssh: {
    name: "ssh",
    title: "SSH",
    defaultPort: 22,
    requires: ["username"],
    enforces: ["command-rules", "recording", "port-forwarding"],
    settings: { key: "ssh", schema: sshSettings },
    hints: { client: "ssh", nativeEndpoint: "ssh", tunnel: (name) => `sluice ssh ${name}` },
  },
  http: {
    name: "http",
    title: "HTTP API",
    defaultPort: 443,
    requires: [],
    enforces: ["request-rules", "masking", "reviews", "recording"],
    settings: { key: "http", schema: httpSettings },
    hints: {
      client: "curl",
      nativeEndpoint: "http",
      tunnel: (name) => `sluice connect ${name} --port 8082   # then: curl http://127.0.0.1:8082/`,
    },
  },
  kubernetes: {
    name: "kubernetes",
    title: "Kubernetes",
    defaultPort: 6443,
    requires: [],
    enforces: ["request-rules", "impersonation", "masking", "reviews", "recording"],
    settings: { key: "kubernetes", schema: kubernetesSettings },
    hints: {
      client: "kubectl",
      nativeEndpoint: "kubernetes",
      tunnel: (name) => `sluice kube login ${name}   # then: kubectl --context sluice-${name} get pods`,
    },
  },
  tcp: {
    name: "tcp",
    title: "TCP",
    defaultPort: 0,
    requires: [],
    enforces: ["recording"],
    hints: { client: "any TCP client", tunnel: (name) => `sluice connect ${name} --port 9000` },
  },
} as const satisfies Record<string, ConnectionTypeSpec>;

export type ConnectionTypeName = keyof typeof connectionTypeSpecs;

export const connectionTypeNames = Object.keys(connectionTypeSpecs) as [
  ConnectionTypeName,
  ...ConnectionTypeName[],
];

export const connectionTypeSchema = z.enum(connectionTypeNames);

export function connectionTypeSpec(name: string): ConnectionTypeSpec | undefined {
  return Object.hasOwn(connectionTypeSpecs, name)
    ? (connectionTypeSpecs as Record<string, ConnectionTypeSpec>)[name]
    : undefined;
}

export { httpSettings, kubernetesSettings, mysqlSettings, sshSettings };

/** The fields a connection of `type` lacks, by the registry's `requires`. */
export function missingFields(
  type: string,
  conn: Partial<Record<ConnectionField, string | null | undefined>>,
): ConnectionField[] {
  const spec = connectionTypeSpec(type);
  return (spec?.requires ?? []).filter((f) => !conn[f]);
}
