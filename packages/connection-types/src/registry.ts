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

export { mysqlSettings, sshSettings };

/** The fields a connection of `type` lacks, by the registry's `requires`. */
export function missingFields(
  type: string,
  conn: Partial<Record<ConnectionField, string | null | undefined>>,
): ConnectionField[] {
  const spec = connectionTypeSpec(type);
  return (spec?.requires ?? []).filter((f) => !conn[f]);
}
