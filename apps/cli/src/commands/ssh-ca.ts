import { apiPath } from "@sluice/client";
import type { Command } from "commander";
import { type CliContext, outputFormat } from "../context";
import { renderJson } from "../output";
import { expectObject } from "../print";

/** `sluice ssh-ca show|rotate`: the control plane's SSH user CA. */
export function registerSshCaCommands(program: Command, ctx: CliContext): void {
  const group = program.command("ssh-ca").description("the control plane's SSH certificate authority");

  const print = (payload: unknown, cmd: Command, note?: string) => {
    const ca = expectObject(payload);
    if (outputFormat(cmd) === "json") {
      ctx.io.stdout(renderJson(ca));
      return;
    }
    // the public key alone on stdout, ready for sshd's TrustedUserCAKeys file
    ctx.io.stdout(`${String(ca.publicKey)}\n`);
    ctx.io.stderr(`fingerprint: ${String(ca.fingerprint)}\n${note ?? ""}`);
  };

  group
    .command("show")
    .description("print the CA's public key (for sshd's TrustedUserCAKeys)")
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      print(await client.get(apiPath("ssh-ca")), cmd);
    });

  group
    .command("rotate")
    .description("start signing with a new CA key (admins); earlier certificates work until they expire")
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await ctx.client();
      print(
        await client.post(apiPath("ssh-ca", "rotate"), {}),
        cmd,
        "certificates from now on are signed by this key; add it to TrustedUserCAKeys wherever the old one is\n",
      );
    });
}
