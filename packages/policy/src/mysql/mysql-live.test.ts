import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { StatementInfo } from "../sql/classify";
import { createMysqlDialect } from "./mysql-dialect";

/**
 * Runs the comment and escape tricks of the corpus on the real MariaDB and checks that
 * what the server did is what the classifier said it would do. The mysql client sends the
 * text as one COM_QUERY (multi-statements on, comments kept, a delimiter that never occurs).
 */

const db = `sluice_test_mysql_${randomBytes(4).toString("hex")}`;

function mysql(sql: string, database = db): { out: string; ok: boolean } {
  const r = spawnSync(
    "mysql",
    [
      "-h127.0.0.1",
      "-uroot",
      "--comments",
      "--binary-mode",
      "--batch",
      "--skip-column-names",
      "--delimiter=@@sluice_never@@",
      database,
    ],
    { input: sql, encoding: "utf8", timeout: 20_000 },
  );
  return { out: r.stdout.trim(), ok: r.status === 0 };
}

const serverVersion = mysql("SELECT VERSION()", "mysql").out;
const dialect = createMysqlDialect({ serverVersion, sqlMode: "STRICT_TRANS_TABLES" });

function statements(sql: string, d = dialect): StatementInfo[] {
  const c = d.classify(sql);
  if (!c.ok) throw new Error(c.error);
  return c.statements;
}

function rows(): number {
  return Number(mysql("SELECT COUNT(*) FROM t").out);
}

function tables(): string[] {
  return mysql("SHOW TABLES").out.split("\n").filter(Boolean);
}

beforeAll(() => {
  expect(mysql(`CREATE DATABASE ${db}`, "mysql").ok).toBe(true);
});

afterAll(() => {
  mysql(`DROP DATABASE IF EXISTS ${db}`, "mysql");
});

beforeEach(() => {
  const setup = mysql(
    "DROP TABLE IF EXISTS t, t2, t3; CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2), (3); CREATE TABLE t2 (a int); CREATE TABLE t3 (a int)",
  );
  expect(setup.ok).toBe(true);
});

describe("executable comments on the real server", () => {
  it("runs a versionless /*! … */ as code: the classifier sees its WHERE, the server deletes one row", () => {
    const sql = "DELETE FROM t /*! WHERE id = 1 */";
    expect(statements(sql)[0]?.unboundedWrite).toBe(false);
    expect(mysql(sql).ok).toBe(true);
    expect(rows()).toBe(2);
  });

  it("skips /*!NNNNNN … */ newer than the server: the classifier calls it unbounded, the server deletes every row", () => {
    const sql = "DELETE FROM t /*!999999 WHERE id = 1 */";
    expect(statements(sql)[0]?.unboundedWrite).toBe(true);
    expect(mysql(sql).ok).toBe(true);
    expect(rows()).toBe(0);
  });

  it("runs /*!50001 … */ and MariaDB's /*M! … */ on MariaDB", () => {
    for (const sql of ["DELETE FROM t /*!50001 WHERE id = 1 */", "DELETE FROM t /*M! WHERE id = 2 */"]) {
      expect(statements(sql)[0]?.unboundedWrite).toBe(false);
      expect(mysql(sql).ok).toBe(true);
    }
    expect(rows()).toBe(1);
  });

  it("runs a statement hidden in /*! … */: classified as DROP TABLE, and the server drops it", () => {
    const sql = "/*!DROP TABLE t2*/";
    expect(statements(sql)[0]?.kind).toBe("DROP TABLE");
    expect(mysql(sql).ok).toBe(true);
    expect(tables()).not.toContain("t2");
  });

  it("ends a # comment inside /*! … */ at the line end, not at */", () => {
    const sql = "SELECT 1 /*! , 2 # */\n, (SELECT COUNT(*) FROM t) */";
    expect(statements(sql)[0]?.objects).toEqual(["t"]);
    expect(mysql(sql).out.split("\t")).toEqual(["1", "2", "3"]);
  });

  it("refuses ';' inside /*! … */, and the server does not run the DROP either", () => {
    const sql = "SELECT 1 /*! ; DROP TABLE t2 */";
    expect(dialect.classify(sql).ok).toBe(false);
    expect(mysql(sql).ok).toBe(false);
    expect(tables()).toContain("t2");
  });
});

describe("line comments and strings on the real server", () => {
  it("treats -- and # followed by a space as comments: nothing after them runs", () => {
    for (const sql of ["SELECT 1 -- ; DROP TABLE t2", "SELECT 1 # ; DROP TABLE t2"]) {
      expect(statements(sql).map((s) => s.kind)).toEqual(["SELECT"]);
      expect(mysql(sql).out).toBe("1");
    }
    expect(tables()).toContain("t2");
  });

  it("reads 1--1 as arithmetic, not a comment", () => {
    expect(statements("SELECT 1--1").map((s) => s.kind)).toEqual(["SELECT"]);
    expect(mysql("SELECT 1--1").out).toBe("2");
  });

  it("keeps \\' inside the string: one SELECT, and no table is dropped", () => {
    const sql = "SELECT 'a\\';DROP TABLE t2; -- '";
    expect(statements(sql).map((s) => s.kind)).toEqual(["SELECT"]);
    expect(mysql(sql).ok).toBe(true);
    expect(tables()).toContain("t2");
  });

  it("ends the string after \\\\: the classifier sees the DROP the server runs", () => {
    const sql = "SELECT 'a\\\\'; DROP TABLE t2; -- '";
    expect(statements(sql).map((s) => s.kind)).toEqual(["SELECT", "DROP TABLE"]);
    mysql(sql);
    expect(tables()).not.toContain("t2");
  });

  it("follows NO_BACKSLASH_ESCAPES when told the session's sql_mode, and refuses the mode change itself", () => {
    const body = "SELECT 'a\\'; DROP TABLE t3; -- '";
    const nbe = createMysqlDialect({ serverVersion, sqlMode: "NO_BACKSLASH_ESCAPES" });
    expect(statements(body, nbe).map((s) => s.kind)).toEqual(["SELECT", "DROP TABLE"]);
    const sql = `SET sql_mode = 'NO_BACKSLASH_ESCAPES'; ${body}`;
    expect(statements(sql)[0]?.opaque).toBe(true);
    mysql(sql);
    expect(tables()).not.toContain("t3");
  });
});
