import { Command, Option } from "commander";
import { registerAdminCommands } from "./commands/admin/index";
import { registerAuditCommands } from "./commands/audit";
import { registerConnectCommand } from "./commands/connect";
import { registerConnectionsCommand } from "./commands/connections";
import { registerExecCommand } from "./commands/exec";
import { registerHttpCommand } from "./commands/http";
import { registerKubeCommands } from "./commands/kube";
import { registerLoginCommands } from "./commands/login";
import { registerMcpCommands } from "./commands/mcp";
import { registerNotificationsCommands } from "./commands/notifications";
import { registerPoliciesCommands } from "./commands/policies";
import { registerProxyCommands } from "./commands/proxy";
import { registerRequestCommand } from "./commands/request";
import { registerReviewsCommands } from "./commands/reviews";
import { registerSessionsCommands } from "./commands/sessions";
import { registerSshCommand } from "./commands/ssh";
import { registerSshCaCommands } from "./commands/ssh-ca";
import { registerSshCertCommand } from "./commands/ssh-cert";
import { registerSshKeysCommands } from "./commands/ssh-keys";
import type { CliContext } from "./context";
import { outputFormats } from "./output";

/** The whole `sluice` command tree; settings set here are inherited by every subcommand. */
export function createProgram(ctx: CliContext, version: string): Command {
  const program = new Command("sluice")
    .description("Sluice: reach databases and servers through audited, policy-checked sessions")
    .version(version, "-V, --version")
    .addOption(
      new Option("-o, --output <format>", "output format (csv: exec only)")
        .choices([...outputFormats, "csv"])
        .default("table"),
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      "\nEnvironment: SLUICE_API_KEY and SLUICE_URL override the stored login; SLUICE_CONFIG_DIR moves the config;" +
        "\nSLUICE_DEBUG=1 prints stack traces. Exit codes: 0 ok, 1 refused or failed, 2 usage or not logged in," +
        "\n3 control plane or agent unreachable, or tunnel refused.",
    );
  registerLoginCommands(program, ctx);
  registerConnectionsCommand(program, ctx);
  registerConnectCommand(program, ctx);
  registerExecCommand(program, ctx);
  registerHttpCommand(program, ctx);
  registerKubeCommands(program, ctx);
  registerSshCommand(program, ctx);
  registerProxyCommands(program, ctx);
  registerSshCertCommand(program, ctx);
  registerSshCaCommands(program, ctx);
  registerSshKeysCommands(program, ctx);
  registerSessionsCommands(program, ctx);
  registerRequestCommand(program, ctx);
  registerReviewsCommands(program, ctx);
  registerPoliciesCommands(program, ctx);
  registerAuditCommands(program, ctx);
  registerMcpCommands(program, ctx, version);
  registerNotificationsCommands(program, ctx);
  registerAdminCommands(program, ctx);
  return program;
}
