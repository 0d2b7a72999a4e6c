import type { Command } from "commander";
import type { CliContext } from "../../context";
import { registerAgentCommands } from "./agents";
import { registerConnectionCommands } from "./connections";
import { registerGroupCommands } from "./groups";
import { registerPolicyCommands } from "./policies";
import { registerUserCommands } from "./users";

export function registerAdminCommands(program: Command, ctx: CliContext): void {
  const admin = program
    .command("admin")
    .description("administer agents, connections, users, groups and policies (admin role)");
  registerAgentCommands(admin, ctx);
  registerConnectionCommands(admin, ctx);
  registerUserCommands(admin, ctx);
  registerGroupCommands(admin, ctx);
  registerPolicyCommands(admin, ctx);
}
