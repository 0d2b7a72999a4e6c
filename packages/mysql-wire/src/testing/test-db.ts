import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";

export const MARIADB = { host: "127.0.0.1", port: 3306 } as const;

export interface TestDatabase {
  database: string;
  user: string;
  password: string;
  root: mysql.Connection;
  /** Creates another uniquely named user with all privileges on the database. */
  createUser(identified: string): Promise<string>;
  drop(): Promise<void>;
}

/** A uniquely named database and native-password user on the local MariaDB, dropped by `drop()`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const root = await mysql.createConnection({
    ...MARIADB,
    user: "root",
    password: "",
    multipleStatements: true,
  });
  const suffix = `${process.pid}_${randomBytes(4).toString("hex")}`;
  const database = `sluice_mw_${suffix}`;
  const users: string[] = [];
  await root.query(`CREATE DATABASE \`${database}\``);
  const createUser = async (identified: string) => {
    const name = `mw_${suffix}_${users.length}`;
    users.push(name);
    await root.query(`CREATE USER '${name}'@'%' IDENTIFIED ${identified}`);
    await root.query(`GRANT ALL ON \`${database}\`.* TO '${name}'@'%'`);
    return name;
  };
  const password = `pw-${randomBytes(6).toString("hex")}`;
  const user = await createUser(`BY '${password}'`);
  return {
    database,
    user,
    password,
    root,
    createUser,
    async drop() {
      for (const u of users) await root.query(`DROP USER IF EXISTS '${u}'@'%'`);
      await root.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await root.end();
    },
  };
}

/** Loads MariaDB's ed25519 authentication plugin if it is not loaded yet. */
export async function ensureEd25519Plugin(root: mysql.Connection): Promise<void> {
  const [rows] = await root.query("SELECT 1 FROM information_schema.plugins WHERE plugin_name = 'ed25519'");
  if ((rows as unknown[]).length === 0) await root.query("INSTALL SONAME 'auth_ed25519'");
}
