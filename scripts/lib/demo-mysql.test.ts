import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureDemoMysql } from "./demo-mysql";
import { findMysqlClient, type MysqlLogin, runMysql } from "./mysql-cli";
import { freePort } from "./services";

const HOST = "127.0.0.1";
const PORT = 3306;
const ADMIN_URL = process.env.SLUICE_TEST_MYSQL_URL ?? `mysql://root@${HOST}:${PORT}`;
const name = `sluice_demo_t${randomBytes(4).toString("hex")}`;
const home = mkdtempSync(join(tmpdir(), "sluice-demo-mysql-"));
const client = findMysqlClient() ?? "mariadb";
const root: MysqlLogin = { host: HOST, port: PORT, user: "root", password: "" };

const asRoot = (sql: string) => runMysql(client, root, sql, home);
const asDemo = (sql: string, password: string, database: string | undefined = name) =>
  runMysql(client, { host: HOST, port: PORT, user: name, password, database }, sql, home);
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "allowed",
    (err: Error) => err.message,
  );

afterAll(async () => {
  await asRoot(`DROP DATABASE IF EXISTS \`${name}\`; DROP USER IF EXISTS '${name}'@'%';`);
  rmSync(home, { recursive: true, force: true });
});

describe("ensureDemoMysql", () => {
  let password = "";

  it("creates a demo database and a password-protected user limited to it", async () => {
    const result = await ensureDemoMysql({ home, adminUrl: ADMIN_URL, name });
    expect(result).toEqual({
      available: true,
      demo: {
        host: HOST,
        port: PORT,
        database: name,
        username: name,
        passwordFile: join(home, `${name}.mysql.password`),
      },
    });
    const file = join(home, `${name}.mysql.password`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    password = readFileSync(file, "utf8").trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(await asDemo("SELECT DATABASE()", password)).toEqual([[name]]);
  });

  it("holds sample users with emails and cards with card numbers", async () => {
    const users = await asDemo("SELECT email FROM users ORDER BY id", password);
    expect(users.flat()).toEqual([
      "ada@example.com",
      "grace@example.com",
      "alan@example.com",
      "edsger@example.com",
    ]);
    const cards = await asDemo("SELECT card_number FROM cards ORDER BY id", password);
    expect(cards.flat()).toContain("4111111111111111");
  });

  it("refuses a wrong password", async () => {
    expect(await refusal(asDemo("SELECT 1", "wrong-password"))).toMatch(/Access denied/);
  });

  it("keeps the user out of every other database and away from global privileges", async () => {
    expect(await refusal(asDemo("SELECT * FROM mysql.user", password))).toMatch(/denied/);
    expect(await refusal(asDemo(`CREATE DATABASE ${name}_x`, password))).toMatch(/denied/);
    expect(await refusal(asDemo(`CREATE USER '${name}_x'@'%'`, password))).toMatch(/denied/);
    const visible = (await asDemo("SHOW DATABASES", password, undefined)).flat();
    expect(visible.sort()).toEqual(["information_schema", name].sort());
    const grants = (await asDemo("SHOW GRANTS", password)).flat().join("\n");
    expect(grants).not.toMatch(/GRANT OPTION|ON \*\.\* TO .*(SELECT|ALL)/);
  });

  it("is idempotent: same password, same rows, privileges put back", async () => {
    await asRoot(`GRANT SELECT ON mysql.* TO '${name}'@'%'`);
    const again = await ensureDemoMysql({ home, adminUrl: ADMIN_URL, name });
    expect(again.available).toBe(true);
    expect(readFileSync(join(home, `${name}.mysql.password`), "utf8").trim()).toBe(password);
    expect(await asDemo("SELECT COUNT(*) FROM users", password)).toEqual([["4"]]);
    expect(await asDemo("SELECT COUNT(*) FROM cards", password)).toEqual([["4"]]);
    expect(await refusal(asDemo("SELECT * FROM mysql.user", password))).toMatch(/denied/);
  });

  it("reports why it is unavailable when no server answers", async () => {
    const port = await freePort();
    const result = await ensureDemoMysql({ home, adminUrl: `mysql://root@127.0.0.1:${port}`, name });
    expect(result).toEqual({ available: false, reason: expect.stringContaining(`127.0.0.1:${port}`) });
  });

  it("reports a refused admin login without the generated password", async () => {
    const result = await ensureDemoMysql({
      home,
      adminUrl: `mysql://nobody_${name}:x@${HOST}:${PORT}`,
      name,
    });
    expect(result.available).toBe(false);
    if (!result.available) {
      expect(result.reason).toMatch(/Access denied/);
      expect(result.reason).not.toContain(password);
    }
  });
});
