export * from "./masking/index";
export * from "./rules";
export { type Classification, classify, initSqlParser, type StatementInfo } from "./sql/classify";
export { compileGuard, type Guard, type GuardOptions, type GuardVerdict } from "./sql/guard";
