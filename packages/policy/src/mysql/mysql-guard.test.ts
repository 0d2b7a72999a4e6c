import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { PolicyDocument } from "../rules";
import { initSqlParser } from "../sql/classify";
import { compileGuard } from "../sql/guard";
import { createMysqlDialect } from "./mysql-dialect";

const dialect = createMysqlDialect({ serverVersion: "10.11.19-MariaDB", sqlMode: "STRICT_TRANS_TABLES" });

const prod: PolicyDocument = {
  id: "00000000-0000-0000-0000-0000000000aa",
  name: "prod-mysql",
  guardrails: [
    {
      name: "no-ddl",
      action: "deny",
      statementKinds: ["DROP", "TRUNCATE", "ALTER", "GRANT", "REVOKE", "SET GLOBAL", "LOAD DATA", "HANDLER"],
    },
    { name: "no-files", action: "deny", statementKinds: ["SELECT INTO OUTFILE", "SELECT INTO DUMPFILE"] },
    { name: "where-required", action: "deny", requireWhere: true },
    { name: "protect-secrets", action: "deny", objects: ["vault.*", "app.api_secrets"] },
    { name: "no-sleep", action: "deny", pattern: "\\bbenchmark\\s*\\(" },
  ],
  masking: [],
  reviewRules: [
    {
      name: "dml-review",
      statementKinds: ["UPDATE", "DELETE"],
      reviewerGroups: ["dba"],
      minApprovals: 1,
      timeoutSeconds: 600,
    },
  ],
};

const readOnlyLane: PolicyDocument = {
  id: "00000000-0000-0000-0000-0000000000bb",
  name: "analysts",
  guardrails: [{ name: "read-only", action: "deny", readOnly: true }],
  masking: [],
  reviewRules: [],
};

beforeAll(() => initSqlParser());

const guard = compileGuard([prod], { dialect });
const ro = compileGuard([readOnlyLane], { dialect });

function ruleOf(g: typeof guard, sql: string): string {
  const v = g.evaluate(sql);
  return v.action === "allow" ? "allow" : `${v.action}:${v.rule}`;
}

describe("guard with the MySQL dialect", () => {
  it.each([
    ["DROP TABLE users", "deny:no-ddl"],
    ["/*! DROP TABLE users */", "deny:no-ddl"],
    ["SELECT 1; DROP TABLE users", "deny:no-ddl"],
    ["SELECT 'a\\';DROP TABLE x; -- '; TRUNCATE users", "deny:no-ddl"],
    ["truncate users", "deny:no-ddl"],
    ["GRANT ALL ON *.* TO 'evil'@'%'", "deny:no-ddl"],
    ["SET GLOBAL general_log = 1", "deny:no-ddl"],
    ["SET @@global.general_log = 1", "deny:no-ddl"],
    ["LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t", "deny:no-ddl"],
    ["HANDLER users OPEN", "deny:no-ddl"],
    ["SELECT * FROM users INTO OUTFILE '/tmp/u'", "deny:no-files"],
    ["DELETE FROM users", "deny:where-required"],
    ["DELETE u, o FROM users u JOIN orders o ON o.uid = u.id", "deny:where-required"],
    ["UPDATE users u JOIN orders o ON o.uid = u.id SET u.x = 1", "deny:where-required"],
    ["DELETE FROM users /*!110000 WHERE id = 1 */", "deny:where-required"],
    ["PREPARE s FROM 'DELETE FROM users'", "deny:where-required"],
    ["SELECT * FROM vault.tokens", "deny:protect-secrets"],
    ["SELECT * FROM `VAULT`.`tokens`", "deny:protect-secrets"],
    ["SELECT * FROM api_secrets", "deny:protect-secrets"],
    ["SELECT 1 /*!50001 , (SELECT v FROM vault.tokens) */", "deny:protect-secrets"],
    ["SET @x = (SELECT v FROM vault.tokens)", "deny:protect-secrets"],
    ["SHOW CREATE TABLE vault.tokens", "deny:protect-secrets"],
    ["SELECT BENCHMARK(1e9, md5('x'))", "deny:no-sleep"],
    ["SELECT LOAD_FILE('/etc/shadow')", "deny:sluice.outside"],
    ["PREPARE s FROM @q", "deny:sluice.opaque"],
    ["EXECUTE s", "deny:sluice.opaque"],
    ["SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "deny:sluice.opaque"],
    ["SET NAMES gbk", "deny:sluice.opaque"],
    ["BEGIN NOT ATOMIC DELETE FROM users; END", "deny:sluice.opaque"],
    ["SELECT 1 /*! ; DROP TABLE users */", "deny:sluice.unparseable"],
    ["SELECT 'unterminated", "deny:sluice.unparseable"],
    ["DELIMITER //", "deny:sluice.unparseable"],
    ["UPDATE users SET a = 1 WHERE id = 2", "review:dml-review"],
    ["DELETE FROM users WHERE id = 2", "review:dml-review"],
    ["SELECT * FROM users WHERE id = 2", "allow"],
    ["SELECT 1 /* ; DROP TABLE users */", "allow"],
    ["SELECT 1 -- ; DROP TABLE users", "allow"],
    ["SELECT 'DROP TABLE users' AS `drop`", "allow"],
    ["SHOW TABLES", "allow"],
    ["DESCRIBE users", "allow"],
    ["SET NAMES utf8mb4", "allow"],
    ["SET SESSION sql_mode = 'STRICT_TRANS_TABLES'", "allow"],
    ["START TRANSACTION; INSERT INTO orders VALUES (1); COMMIT", "allow"],
  ])("%s → %s", (sql, expected) => {
    expect(ruleOf(guard, sql)).toBe(expected);
  });

  it.each([
    ["SELECT * FROM users", "allow"],
    ["SELECT count(*), lower(name) FROM users GROUP BY name", "allow"],
    ["EXPLAIN DELETE FROM users", "allow"],
    ["SHOW DATABASES", "allow"],
    ["SET @a = 1", "allow"],
    ["BEGIN", "allow"],
    ["INSERT INTO users VALUES (1)", "deny:read-only"],
    ["SELECT * FROM users FOR UPDATE", "deny:read-only"],
    ["SELECT a INTO @x FROM users", "deny:read-only"],
    ["SELECT GET_LOCK('x', 1)", "deny:read-only"],
    ["SELECT SLEEP(10)", "deny:read-only"],
    ["SELECT my_udf(1)", "deny:read-only"],
    ["ANALYZE DELETE FROM users", "deny:read-only"],
    ["SET SESSION TRANSACTION READ WRITE", "deny:read-only"],
    ["SET transaction_read_only = 0", "deny:read-only"],
    ["LOCK TABLES users WRITE", "deny:read-only"],
    ["KILL 12", "deny:read-only"],
    ["DO RELEASE_LOCK('x')", "deny:read-only"],
  ])("read-only lane: %s → %s", (sql, expected) => {
    expect(ruleOf(ro, sql)).toBe(expected);
  });

  it("keeps PostgreSQL as the default dialect", () => {
    const pgGuard = compileGuard([prod]);
    // `#` starts a comment in MySQL only, and `$$` quotes a string in PostgreSQL only.
    expect(ruleOf(pgGuard, "SELECT $$ ; $$; SELECT 1")).toBe("allow");
    expect(ruleOf(guard, "SELECT $$ ; $$; SELECT 1")).toBe("deny:sluice.opaque");
    expect(ruleOf(guard, "SELECT 1 # x ; DROP TABLE t")).toBe("allow");
    expect(ruleOf(pgGuard, "SELECT 1 # x ; DROP TABLE t")).toBe("deny:no-ddl");
  });
});

describe("MySQL dialect on arbitrary text", () => {
  const pieces = fc.constantFrom(
    "SELECT ",
    "DELETE FROM t",
    "DROP TABLE t",
    " WHERE a = 1",
    ";",
    "'",
    '"',
    "`",
    "\\",
    "/*",
    "*/",
    "/*!",
    "/*!50001",
    "/*M!",
    "#",
    "-- ",
    "--",
    "\n",
    "@",
    "@@global.x",
    "SET ",
    "PREPARE s FROM ",
    "(",
    ")",
    "x",
    "1",
  );

  it("never throws on random strings, and every statement is classified or opaque", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (sql) => {
        const c = dialect.classify(sql);
        if (c.ok) for (const s of c.statements) expect(s.kind.length).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
  });

  it("never allows a DROP it can see on a guarded connection, whatever surrounds it", () => {
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 12 }), (parts) => {
        const sql = parts.join("");
        const c = dialect.classify(sql);
        if (!c.ok) return;
        for (const s of c.statements) {
          if (s.opaque) expect(s.readOnly).toBe(false);
          if (s.kinds.has("DROP TABLE")) expect(guard.evaluate(sql).action).toBe("deny");
        }
      }),
      { numRuns: 400 },
    );
  });
});
