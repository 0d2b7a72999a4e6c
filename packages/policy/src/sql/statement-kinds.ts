/** Names of statement kinds, as rules list them (`DROP TABLE`, `COPY PROGRAM`, …). */

/** Statement nodes whose kind is not just their camel-cased name. */
const KIND_NAMES: Record<string, string> = {
  SelectStmt: "SELECT",
  InsertStmt: "INSERT",
  UpdateStmt: "UPDATE",
  DeleteStmt: "DELETE",
  MergeStmt: "MERGE",
  TruncateStmt: "TRUNCATE",
  VariableSetStmt: "SET",
  VariableShowStmt: "SHOW",
  AlterSystemStmt: "ALTER SYSTEM",
  CreateStmt: "CREATE TABLE",
  CreateTableAsStmt: "CREATE TABLE AS",
  IndexStmt: "CREATE INDEX",
  ViewStmt: "CREATE VIEW",
  RenameStmt: "ALTER RENAME",
  CopyStmt: "COPY",
  DoStmt: "DO",
  CallStmt: "CALL",
  ExplainStmt: "EXPLAIN",
  PrepareStmt: "PREPARE",
  ExecuteStmt: "EXECUTE",
  DeallocateStmt: "DEALLOCATE",
  DeclareCursorStmt: "DECLARE CURSOR",
  FetchStmt: "FETCH",
  ClosePortalStmt: "CLOSE",
  LockStmt: "LOCK",
  VacuumStmt: "VACUUM",
  ClusterStmt: "CLUSTER",
  ReindexStmt: "REINDEX",
  CheckPointStmt: "CHECKPOINT",
  DiscardStmt: "DISCARD",
  ListenStmt: "LISTEN",
  UnlistenStmt: "UNLISTEN",
  NotifyStmt: "NOTIFY",
  LoadStmt: "LOAD",
  CommentStmt: "COMMENT",
  RefreshMatViewStmt: "REFRESH MATERIALIZED VIEW",
  CreatedbStmt: "CREATE DATABASE",
  DropdbStmt: "DROP DATABASE",
  AlterDatabaseStmt: "ALTER DATABASE",
  AlterDatabaseSetStmt: "ALTER DATABASE",
  DropRoleStmt: "DROP ROLE",
  DropOwnedStmt: "DROP OWNED",
  ReassignOwnedStmt: "REASSIGN OWNED",
  SecLabelStmt: "SECURITY LABEL",
  ConstraintsSetStmt: "SET CONSTRAINTS",
  VariableResetStmt: "RESET",
};

const TRANSACTION_KINDS: Record<string, string> = {
  TRANS_STMT_BEGIN: "BEGIN",
  TRANS_STMT_START: "BEGIN",
  TRANS_STMT_COMMIT: "COMMIT",
  TRANS_STMT_ROLLBACK: "ROLLBACK",
  TRANS_STMT_SAVEPOINT: "SAVEPOINT",
  TRANS_STMT_RELEASE: "RELEASE",
  TRANS_STMT_ROLLBACK_TO: "ROLLBACK",
  TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
  TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
  TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
};

/** Kinds that never change data or schema by themselves. */
export const READ_KINDS = new Set([
  "SELECT",
  "SHOW",
  "EXPLAIN",
  "BEGIN",
  "COMMIT",
  "ROLLBACK",
  "SAVEPOINT",
  "RELEASE",
  "SET",
  "RESET",
  "DECLARE CURSOR",
  "FETCH",
  "CLOSE",
  "DEALLOCATE",
  "DISCARD",
  "LISTEN",
  "UNLISTEN",
  "PREPARE",
  "SET CONSTRAINTS",
]);

/** The kind a statement with parse-state settings also gets, e.g. for `statementKinds` rules. */
export const PARSE_STATE_KIND = "SET PARSE STATE";

function camelToKind(node: string): string {
  return node
    .replace(/Stmt$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toUpperCase();
}

function objectTypeWord(removeType: unknown): string {
  return typeof removeType === "string" ? removeType.replace(/^OBJECT_/, "").replace(/_/g, " ") : "";
}

/** Kind of one statement node, with the details its node carries. */
export function statementKind(type: string, node: Record<string, unknown>): string {
  switch (type) {
    case "TransactionStmt":
      return TRANSACTION_KINDS[String(node.kind)] ?? "TRANSACTION";
    case "DropStmt": {
      const what = objectTypeWord(node.removeType);
      return what ? `DROP ${what}` : "DROP";
    }
    case "GrantStmt":
      return node.is_grant ? "GRANT" : "REVOKE";
    case "GrantRoleStmt":
      return node.is_grant ? "GRANT" : "REVOKE";
    case "CopyStmt":
      if (node.is_program) return "COPY PROGRAM";
      return node.is_from ? "COPY FROM" : "COPY TO";
    case "SelectStmt":
      return node.intoClause ? "SELECT INTO" : "SELECT";
    case "VacuumStmt":
      return node.is_vacuumcmd ? "VACUUM" : "ANALYZE";
    default:
      return KIND_NAMES[type] ?? camelToKind(type);
  }
}
