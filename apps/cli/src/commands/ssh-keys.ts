import { basename } from "node:path";
import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { usageError } from "../cli-error";
import { type CliContext, type CliIo, outputFormat } from "../context";
import { col } from "../output";
import { expectObject, printDone, printList } from "../print";
import { readPublicKeyFile } from "./ssh-identity";

const sshKeys = {
  plural: "SSH keys",
  columns: [
    col("NAME", "name"),
    col("TYPE", "type"),
    col("FINGERPRINT", "fingerprint"),
    col("ADDED", "createdAt"),
    col("LAST USED", "lastUsedAt"),
    col("ID", "id"),
  ],
};

const NAME = /^[\p{L}\p{N} ._@+-]{1,100}$/u;

async function publicKeyFromStdin(io: CliIo): Promise<string> {
  let text = "";
  for await (const chunk of io.stdin) {
    text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (text.length > 16 * 1024) throw usageError("the public key on stdin is too long");
  }
  const line = text.split("\n").find((l) => l.trim() && !l.trim().startsWith("#"));
  if (!line) throw usageError("no public key on stdin");
  return line.trim();
}

/** A name for the key: `--name`, else its comment, else the file name. */
function keyName(line: string, file: string, given?: string): string {
  if (given !== undefined) return given;
  const comment = line.split(/\s+/).slice(2).join(" ");
  if (NAME.test(comment)) return comment;
  const fromFile = basename(file).replace(/\.pub$/, "");
  if (file !== "-" && NAME.test(fromFile)) return fromFile;
  throw usageError("name the key with --name");
}

export function registerSshKeysCommands(program: Command, ctx: CliContext): void {
  const group = program
    .command("ssh-keys")
    .description("manage the SSH public keys you log in with on agents' SSH listeners");

  group
    .command("add")
    .description("register a public key (e.g. ~/.ssh/id_ed25519.pub; - reads stdin)")
    .argument("<file>", "public key file, or - for stdin")
    .option("--name <name>", "a name for the key (default: its comment)")
    .action(async (file: string, flags: { name?: string }, cmd: Command) => {
      const line = file === "-" ? await publicKeyFromStdin(ctx.io) : await readPublicKeyFile(file);
      const client = await ctx.client();
      const key = expectObject(
        await client.post(apiPath("ssh-keys"), { name: keyName(line, file, flags.name), publicKey: line }),
      );
      printDone(
        ctx.io,
        outputFormat(cmd),
        `added SSH key ${String(key.name)} (${String(key.fingerprint)})`,
        key,
      );
    });

  group
    .command("list")
    .description("list your SSH keys")
    .option("--user <user>", "another user's keys (admins and auditors)")
    .action(async (flags: { user?: string }, cmd: Command) => {
      const client = await ctx.client();
      const query = flags.user ? `?${new URLSearchParams({ user: flags.user }).toString()}` : "";
      printList(ctx.io, outputFormat(cmd), await client.get(`${apiPath("ssh-keys")}${query}`), sshKeys);
    });

  group
    .command("remove")
    .description("remove an SSH key and end the sessions it opened")
    .argument("<key>", "the key's id or SHA256 fingerprint")
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      await client.delete(apiPath("ssh-keys", ref));
      printDone(ctx.io, outputFormat(cmd), `removed SSH key ${ref}`, { removed: ref });
    });
}
