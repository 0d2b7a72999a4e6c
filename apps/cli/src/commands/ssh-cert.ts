import type { Command } from "commander";
import { type CliContext, outputFormat } from "../context";
import { renderJson } from "../output";
import { certify, loadOrCreateIdentity, parseDuration } from "./ssh-identity";

interface CertFlags {
  identity?: string;
  validity?: number;
}

export function registerSshCertCommand(program: Command, ctx: CliContext): void {
  program
    .command("ssh-cert")
    .description("get a short-lived SSH certificate for your key from the control plane's SSH CA")
    .option(
      "-i, --identity <file>",
      "your private key (or its .pub); default: an Ed25519 key Sluice keeps for you",
    )
    .option(
      "--validity <duration>",
      "how long it stays valid, e.g. 30m or 4h (default 1h, at most 12h)",
      parseDuration,
    )
    .addHelpText(
      "after",
      "\nWrites <key>-cert.pub next to the key, where ssh finds it: ssh -i <key> -p <agent ssh port> <connection>@<agent>",
    )
    .action(async (flags: CertFlags, cmd: Command) => {
      const identity = await loadOrCreateIdentity(ctx.io.env, flags.identity);
      const client = await ctx.client();
      const cert = await certify(client, identity, flags.validity);
      if (outputFormat(cmd) === "json") {
        ctx.io.stdout(
          renderJson({
            identity: identity.privateKeyPath,
            certificateFile: cert.path,
            created: identity.created,
            serial: cert.serial,
            principals: cert.principals,
            validBefore: cert.validBefore,
            caFingerprint: cert.caFingerprint,
          }),
        );
        return;
      }
      if (identity.created) ctx.io.stderr(`created a new Ed25519 key: ${identity.privateKeyPath}\n`);
      ctx.io.stdout(
        `${cert.path}\n  principals: ${cert.principals.join(", ")}\n  valid until: ${cert.validBefore}\n  use it with: ssh -i ${identity.privateKeyPath} …\n`,
      );
    });
}
