import { describe, expect, it } from "vitest";
import type { StatementInfo } from "../sql/classify";
import { MYSQL_CORPUS } from "./mysql-corpus";
import { createMysqlDialect } from "./mysql-dialect";

const dialect = createMysqlDialect({
  serverVersion: "10.11.19-MariaDB-0+deb12u1",
  sqlMode: "STRICT_TRANS_TABLES",
});

function summary(s: StatementInfo): string {
  const flags = `${s.unboundedWrite ? "U" : ""}${s.readOnly ? "R" : ""}${s.opaque ? "O" : ""}`;
  return `${s.kind}|${s.objects.join(",")}|${flags}`;
}

function classifyAll(sql: string): string | string[] {
  const c = dialect.classify(sql);
  if (!c.ok) return "error";
  const out = c.statements.map(summary);
  return out.length === 1 ? (out[0] as string) : out;
}

describe("MySQL corpus", () => {
  it("holds at least 150 statements", () => {
    expect(MYSQL_CORPUS.length).toBeGreaterThanOrEqual(150);
  });

  it.each(MYSQL_CORPUS)("%s", (sql, expected) => {
    expect(classifyAll(sql)).toEqual(expected);
  });

  it("never reports an opaque statement as read-only", () => {
    for (const [sql] of MYSQL_CORPUS) {
      const c = dialect.classify(sql);
      if (c.ok) for (const s of c.statements) if (s.opaque) expect(s.readOnly, sql).toBe(false);
    }
  });
});

describe("MySQL statement details", () => {
  function one(sql: string, d = dialect) {
    const c = d.classify(sql);
    if (!c.ok) throw new Error(c.error);
    expect(c.statements).toHaveLength(1);
    return c.statements[0] as StatementInfo & { localInfile: boolean };
  }

  it("marks LOAD DATA LOCAL INFILE, and only that", () => {
    expect(one("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t").localInfile).toBe(true);
    expect(one("LOAD DATA INFILE '/tmp/local' INTO TABLE t").localInfile).toBe(false);
    expect(one("SELECT 'LOCAL INFILE'").localInfile).toBe(false);
  });

  it("marks statements that read or write server files as reaching outside the database", () => {
    expect(one("SELECT * FROM t INTO OUTFILE '/tmp/x'").outside).toBe(true);
    expect(one("SELECT * FROM t INTO DUMPFILE '/tmp/x'").outside).toBe(true);
    expect(one("SELECT LOAD_FILE('/etc/passwd')").outside).toBe(true);
    expect(one("LOAD DATA INFILE '/var/lib/x' INTO TABLE t").outside).toBe(true);
    expect(one("LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE t").outside).toBeUndefined();
    expect(one("SELECT a INTO @x FROM t").outside).toBeUndefined();
  });

  it("lists the functions a statement calls, lower case, without schema", () => {
    expect(one("SELECT SLEEP(1), app.Fn(2), COUNT(*) FROM t").functions).toEqual(["sleep", "fn", "count"]);
  });

  it("adds the leading verb and the PostgreSQL names of MySQL kinds", () => {
    expect([...one("DROP DATABASE shop").kinds].sort()).toEqual(["DROP", "DROP DATABASE", "DROP SCHEMA"]);
    expect(one("DROP USER 'u'@'%'").kinds.has("DROP ROLE")).toBe(true);
    expect(one("RENAME TABLE a TO b").kinds.has("ALTER")).toBe(true);
    expect(one("SELECT * INTO OUTFILE '/tmp/x' FROM t").kinds.has("SELECT INTO")).toBe(true);
  });

  it("keeps each statement's own text", () => {
    const c = dialect.classify("SELECT 1 ;\n  DROP TABLE t -- bye\n");
    expect(c.ok && c.statements.map((s) => s.text)).toEqual(["SELECT 1", "DROP TABLE t -- bye"]);
  });

  it("treats a versioned comment as opaque when the server version is not known", () => {
    const unknown = createMysqlDialect({ sqlMode: "" });
    expect(one("SELECT 1 /*!50001 , 2 */", unknown).opaque).toBe(true);
    expect(one("SELECT 1 /*! , 2 */", unknown).opaque).toBe(false);
    expect(one("SELECT 1 /*M! , 2 */", unknown).opaque).toBe(true);
  });

  it("reads /*M! comments as comments on MySQL and as code on MariaDB", () => {
    const mysql = createMysqlDialect({ serverVersion: "8.0.36", sqlMode: "" });
    expect(one("DELETE FROM t /*M! WHERE id = 1 */", mysql).unboundedWrite).toBe(true);
    expect(one("DELETE FROM t /*M! WHERE id = 1 */").unboundedWrite).toBe(false);
    expect(one("SELECT 1 /*!100100 , 2 */", mysql).opaque).toBe(true);
  });

  it("refuses text whose reading depends on an sql_mode it was not told", () => {
    const unknown = createMysqlDialect({ serverVersion: "10.11.19-MariaDB" });
    expect(unknown.classify("SELECT 'a\\'; DROP TABLE t; -- '").ok).toBe(false);
    expect(unknown.classify("SELECT 'a\\\\', \"b\" FROM t").ok).toBe(true);
    expect(unknown.classify("SELECT 'plain' FROM t").ok).toBe(true);
  });

  it('reads strings without backslash escapes under NO_BACKSLASH_ESCAPES, and "…" as names under ANSI_QUOTES', () => {
    const nbe = createMysqlDialect({ serverVersion: "10.11.19-MariaDB", sqlMode: "NO_BACKSLASH_ESCAPES" });
    const c = nbe.classify("SELECT 'a\\'; DROP TABLE t; -- '");
    expect(c.ok && c.statements.map((s) => s.kind)).toEqual(["SELECT", "DROP TABLE"]);
    const ansi = createMysqlDialect({ serverVersion: "10.11.19-MariaDB", sqlMode: "ANSI_QUOTES" });
    expect(one('SELECT * FROM "vault"."tokens"', ansi).objects).toEqual(["vault.tokens"]);
    expect(one("SET sql_mode = ''", ansi).opaque).toBe(true);
  });

  it("refuses text longer than the limit", () => {
    const c = dialect.classify(`SELECT ${"1+".repeat(600_000)}1`);
    expect(c.ok).toBe(false);
  });
});
