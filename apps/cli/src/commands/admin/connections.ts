import { connectionTypeNames } from "@sluice/connection-types";
import { type Command, Option } from "commander";
import { usageError } from "../../cli-error";
import type { CliContext } from "../../context";
import {
  collectLabel,
  collectList,
  intParser,
  mergeBody,
  parsePort,
  readBodyFile,
  readTextFile,
  requireChanges,
  requireFields,
} from "../../flags";
import { isRecord } from "../../output";
import { connections } from "../../resources";
import { addReadDeleteCommands, createAndPrint, FROM_FILE_HELP, updateAndPrint } from "./crud";

export const connectionTypes = connectionTypeNames;
export const tlsModes = ["disable", "require", "verify-ca", "verify-full"] as const;

export interface ConnectionFlags {
  name?: string;
  type?: string;
  host?: string;
  port?: number;
  database?: string;
  username?: string;
  credentialRef?: string;
  tlsMode?: string;
  tlsServerName?: string;
  tlsCaFile?: string;
  agentSegment?: string;
  agentLabel?: Record<string, string>;
  group?: string[];
  policy?: string[];
  recordRowsLimit?: number;
  description?: string;
  fromFile?: string;
  url?: string;
  inject?: string;
}

/**
 * `--url https://payments.internal:8443/api` for an http connection: host, port, TLS
 * (verify-full for https) and the base path in one flag.
 */
export function urlFields(url: string | undefined): Record<string, unknown> {
  if (url === undefined) return {};
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usageError(`--url ${url} is not a URL (use e.g. https://payments.internal:8443/api)`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:")
    throw usageError("--url must be an http:// or https:// URL");
  if (u.username || u.password || u.search || u.hash) {
    throw usageError(
      "--url takes no credentials, query or fragment: the agent injects the credential (--inject)",
    );
  }
  const secure = u.protocol === "https:";
  const basePath = u.pathname.replace(/\/+$/, "");
  return {
    type: "http",
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : secure ? 443 : 80,
    tls: { mode: secure ? "verify-full" : "disable" },
    ...(basePath ? { http: { basePath } } : {}),
  };
}

/** `--inject bearer|basic|none|header:<Name>|query:<name>`: how the agent adds the credential. */
export function injectFields(inject: string | undefined): Record<string, unknown> {
  if (inject === undefined) return {};
  const m = /^(bearer|basic|none|header|query)(?::([!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}))?$/.exec(inject);
  const kind = m?.[1];
  const named = kind === "header" || kind === "query";
  if (!m || named !== (m[2] !== undefined)) {
    throw usageError("--inject must be bearer, basic, none, header:<Header-Name> or query:<param>");
  }
  return { inject: { kind, ...(named ? { name: m[2] } : {}) } };
}

/** The `tls` object from flags, merged over the file's; undefined when no TLS flag was given. */
export function tlsFromFlags(
  flags: ConnectionFlags,
  caPem: string | undefined,
  base: unknown,
): Record<string, unknown> | undefined {
  if (flags.tlsMode === undefined && flags.tlsServerName === undefined && caPem === undefined)
    return undefined;
  const tls = mergeBody(isRecord(base) ? base : {}, {
    mode: flags.tlsMode,
    serverName: flags.tlsServerName,
    caPem,
  });
  if (
    (tls.caPem !== undefined || tls.serverName !== undefined) &&
    !["verify-ca", "verify-full"].includes(String(tls.mode))
  ) {
    throw usageError("--tls-ca-file and --tls-server-name need --tls-mode verify-ca or verify-full");
  }
  return tls;
}

function fieldsFromFlags(
  flags: ConnectionFlags,
  tls: Record<string, unknown> | undefined,
): Record<string, unknown> {
  return {
    name: flags.name,
    type: flags.type,
    host: flags.host,
    port: flags.port,
    database: flags.database,
    username: flags.username,
    credentialRef: flags.credentialRef,
    tls,
    agentSegment: flags.agentSegment,
    agentLabels: flags.agentLabel,
    allowedGroups: flags.group,
    policyIds: flags.policy,
    recordRowsLimit: flags.recordRowsLimit,
    description: flags.description,
  };
}

export function connectionCreateBody(
  name: string | undefined,
  flags: ConnectionFlags,
  base: Record<string, unknown> = {},
  caPem?: string,
): Record<string, unknown> {
  const fromUrl = urlFields(flags.url);
  const tls = tlsFromFlags(flags, caPem, fromUrl.tls ?? base.tls);
  const http = mergeBody(
    { ...(isRecord(base.http) ? base.http : {}), ...(isRecord(fromUrl.http) ? fromUrl.http : {}) },
    injectFields(flags.inject),
  );
  const body = mergeBody(base, {
    ...fromUrl,
    ...(Object.keys(http).length > 0 ? { http } : {}),
    ...fieldsFromFlags(flags, tls ?? (fromUrl.tls as Record<string, unknown> | undefined)),
    name: name ?? flags.name,
  });
  requireFields(body, { name: "<name>", type: "--type", host: "--host", port: "--port" });
  return body;
}

export function connectionUpdateBody(
  flags: ConnectionFlags,
  base: Record<string, unknown> = {},
  caPem?: string,
): Record<string, unknown> {
  const fromUrl = urlFields(flags.url);
  const { type: _type, ...urlUpdate } = fromUrl;
  const tls =
    tlsFromFlags(flags, caPem, fromUrl.tls ?? base.tls) ??
    (fromUrl.tls as Record<string, unknown> | undefined);
  const http = mergeBody(
    { ...(isRecord(base.http) ? base.http : {}), ...(isRecord(fromUrl.http) ? fromUrl.http : {}) },
    injectFields(flags.inject),
  );
  const body = mergeBody(base, {
    ...urlUpdate,
    ...(Object.keys(http).length > 0 ? { http } : {}),
    ...fieldsFromFlags(flags, tls),
  });
  requireChanges(body);
  return body;
}

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--type <type>", "target protocol").choices(connectionTypes))
    .option("--url <url>", "http connections: the upstream base URL (sets host, port, TLS and base path)")
    .option("--inject <how>", "http connections: bearer, basic, none, header:<Name> or query:<param>")
    .option("--host <host>", "target host name or IP address")
    .option("--port <port>", "target port", parsePort)
    .option("--database <name>", "database name (postgres, mysql)")
    .option("--username <name>", "user name on the target")
    .option("--credential-ref <ref>", "where the agent finds the secret: env:NAME, file:/path, vault:…")
    .addOption(new Option("--tls-mode <mode>", "TLS to the target").choices(tlsModes))
    .option("--tls-ca-file <file>", "PEM file with the CA that signs the target's certificate")
    .option("--tls-server-name <name>", "server name to verify in the target's certificate")
    .option("--agent-segment <segment>", "serve through agents of this segment")
    .option("--agent-label <key=value>", "serve through agents with this label (repeatable)", collectLabel)
    .option("--group <group>", "group allowed to use the connection (repeatable)", collectList)
    .option("--policy <policy>", "policy id or name to apply (repeatable)", collectList)
    .option("--record-rows-limit <n>", "rows per result kept in recordings", intParser(0, 10_000))
    .option("--description <text>", "free-text description")
    .option("-f, --from-file <file>", FROM_FILE_HELP);
}

export function registerConnectionCommands(admin: Command, ctx: CliContext): void {
  const cmd = admin.command("connections").description("manage connections (targets reached through agents)");
  addReadDeleteCommands(cmd, ctx, connections);

  addConnectionOptions(
    cmd.command("create").description("create a connection").argument("[name]", "connection name"),
  ).action(async (name: string | undefined, flags: ConnectionFlags, command: Command) => {
    const caPem = await readTextFile(flags.tlsCaFile, "--tls-ca-file");
    const body = connectionCreateBody(name, flags, await readBodyFile(flags.fromFile), caPem);
    await createAndPrint(ctx, command, connections, body);
  });

  addConnectionOptions(
    cmd
      .command("update")
      .description("change a connection (list flags replace the whole list)")
      .argument("<id>", "connection id or name")
      .option("--name <name>", "new name"),
  ).action(async (id: string, flags: ConnectionFlags, command: Command) => {
    const caPem = await readTextFile(flags.tlsCaFile, "--tls-ca-file");
    const body = connectionUpdateBody(flags, await readBodyFile(flags.fromFile), caPem);
    await updateAndPrint(ctx, command, connections, id, body);
  });
}
