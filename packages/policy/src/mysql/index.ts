export type { MysqlStatementInfo } from "./mysql-classify";
export {
  createMysqlDialect,
  MAX_MYSQL_SQL_LENGTH,
  type MysqlDialectOptions,
  versionNumber,
} from "./mysql-dialect";
export { READ_ONLY_FUNCTIONS } from "./mysql-functions";
