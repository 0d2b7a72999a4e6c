import type { ColumnDefinition } from "../column-definition";
import type { MysqlProxyHooks, ResultMasker } from "../proxy-hooks";
import type { TestDatabase } from "./test-db";

/** Creates the `customers` table and `two_results` procedure the proxy tests query. */
export async function createFixtures(db: TestDatabase): Promise<void> {
  const q = (sql: string) => db.root.query(`USE \`${db.database}\`; ${sql}`);
  await q(`CREATE TABLE customers (
    id INT PRIMARY KEY, email VARCHAR(100) UNIQUE, salary INT, joined DATETIME, note VARCHAR(20), data LONGBLOB)`);
  await q(`INSERT INTO customers (id, email, salary, joined, note) VALUES
    (1, 'ann@example.com', 5000, '2024-01-02 03:04:05', 'first'),
    (2, 'bob@example.org', 6000, '2023-06-07 08:09:10', NULL)`);
  await q(
    `CREATE PROCEDURE two_results() BEGIN SELECT 1 AS a; SELECT id, email FROM customers ORDER BY id; END`,
  );
}

/** Masks columns named email (keeps the domain) and salary (to 0); quoted values in ERR messages become '***'. */
export const maskingHooks: MysqlProxyHooks = {
  maskerFor(columns: readonly ColumnDefinition[]): ResultMasker | undefined {
    const m = new Map<number, (v: Buffer) => string>();
    columns.forEach((c, i) => {
      if (c.orgName === "email") m.set(i, (v) => `***@${v.toString().split("@")[1] ?? ""}`);
      if (c.orgName === "salary") m.set(i, () => "0");
    });
    return m.size > 0 ? m : undefined;
  },
  maskError: (err) => ({ ...err, message: err.message.replace(/'[^']*'/g, "'***'") }),
  onQuery(sql) {
    if (/^\s*drop\s+table/i.test(sql))
      return { action: "deny", message: "Denied by Sluice rule no-drop-table" };
    if (sql.includes("/* hold */")) {
      return new Promise((resolve) => setTimeout(() => resolve({ action: "allow" }), 400));
    }
    return { action: "allow" };
  },
};
