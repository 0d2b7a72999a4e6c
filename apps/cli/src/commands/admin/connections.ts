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
  const tls = tlsFromFlags(flags, caPem, base.tls);
  const body = mergeBody(base, { ...fieldsFromFlags(flags, tls), name: name ?? flags.name });
  requireFields(body, { name: "<name>", type: "--type", host: "--host", port: "--port" });
  return body;
}

export function connectionUpdateBody(
  flags: ConnectionFlags,
  base: Record<string, unknown> = {},
  caPem?: string,
): Record<string, unknown> {
  const body = mergeBody(base, fieldsFromFlags(flags, tlsFromFlags(flags, caPem, base.tls)));
  requireChanges(body);
  return body;
}

function addConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--type <type>", "target protocol").choices(connectionTypes))
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
