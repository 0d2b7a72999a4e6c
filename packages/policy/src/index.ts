export {
  type CommandGuard,
  type CommandRule,
  type CommandVerdict,
  compileCommandGuard,
  MAX_COMMAND_LENGTH,
} from "./commands/command-guard";
export * from "./masking/index";
export * from "./rules";
export { type Classification, classify, initSqlParser, type StatementInfo } from "./sql/classify";
export { compileGuard, type Guard, type GuardOptions, type GuardVerdict } from "./sql/guard";
