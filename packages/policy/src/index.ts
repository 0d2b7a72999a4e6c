export {
  type CommandGuard,
  type CommandRule,
  type CommandVerdict,
  compileCommandGuard,
  MAX_COMMAND_LENGTH,
} from "./commands/command-guard";
export * from "./http/index";
export {
  type JsonPath,
  JsonPathError,
  jsonPathMatches,
  jsonPathMayMatchBelow,
  type PathKey,
  parseJsonPath,
  selectJson,
} from "./json/json-path";
export * from "./kube/index";
export * from "./masking/index";
export * from "./mysql/index";
export * from "./rules";
export {
  type Classification,
  classify,
  initSqlParser,
  referencedColumns,
  type StatementInfo,
} from "./sql/classify";
export { compileConnectionGuard, maskedCopyPolicy } from "./sql/connection-guard";
export { postgresDialect, type SqlDialect } from "./sql/dialect";
export { compileGuard, type Guard, type GuardOptions, type GuardVerdict } from "./sql/guard";
