import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./lib/services";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PG_HOST = process.env.SLUICE_TEST_PG_HOST ?? "127.0.0.1";
const PG_PORT = Number(process.env.SLUICE_TEST_PG_PORT ?? 5432);
const suffix = randomBytes(4).toString("hex");
const cpDb = `sluice_qs_${suffix}`;
const demoDb = `sluice_qs_demo_${suffix}`;
const mysqlDemoDb = `sl_qs_${suffix}`;
let mysqlListen = { host: "127.0.0.1", port: 0 };
const home = mkdtempSync(join(tmpdir(), "sluice-quickstart-"));
let child: ChildProcess | undefined;
let output = "";
/** What the first start printed (it created the demo connections; later starts repoint them). */
let firstOutput = "";
let pgListen = { host: "127.0.0.1", port: 0 };
let apiPort = 0;
let demoApiPort = 0;

async function admin(sql: string, database = "postgres"): Promise<void> {
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: "postgres", database });
  await c.connect();
  await c.query(sql).finally(() => c.end());
}

function waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`quickstart did not print ${pattern}:\n${output}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(output)) {
        clearTimeout(timer);
        done();
      } else if (/quickstart failed/.test(output) || child?.exitCode !== null) {
        clearTimeout(timer);
        fail(new Error(`quickstart stopped:\n${output}`));
      } else setTimeout(check, 200);
    };
    check();
  });
}

/** A Postgres client through the agent's native listener, signed in with the admin key. */
async function throughDemoPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const password = readFileSync(join(home, "admin.key"), "utf8").trim();
  const c = new pg.Client({ ...pgListen, database: "demo-pg", user: "admin", password, ssl: false });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let quickstartEnv: NodeJS.ProcessEnv = {};

async function startQuickstart(): Promise<void> {
  output = "";
  child = spawn(process.execPath, ["--import", "tsx", "scripts/quickstart.ts"], {
    cwd: root,
    env: quickstartEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const append = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  await waitForOutput(/Sluice is running/, 150_000);
}

async function stopQuickstart(): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child?.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${cpDb}`);
  const [api, grpc, pgPort, tunnel, ssh, mysql, httpPort, demoApi, kubePort] = await Promise.all(
    Array.from({ length: 9 }, freePort),
  );
  pgListen = { host: "127.0.0.1", port: pgPort as number };
  apiPort = api as number;
  demoApiPort = demoApi as number;
  quickstartEnv = {
    ...process.env,
    DATABASE_URL: `postgres://postgres@${PG_HOST}:${PG_PORT}/${cpDb}`,
    SLUICE_HOME: home,
    SLUICE_API_PORT: String(api),
    SLUICE_GRPC_PORT: String(grpc),
    SLUICE_PG_LISTEN: `127.0.0.1:${pgPort}`,
    SLUICE_TUNNEL_LISTEN: `127.0.0.1:${tunnel}`,
    SLUICE_SSH_LISTEN: `127.0.0.1:${ssh}`,
    SLUICE_MYSQL_LISTEN: `127.0.0.1:${mysql}`,
    SLUICE_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    SLUICE_KUBE_LISTEN: `127.0.0.1:${kubePort}`,
    SLUICE_DEMO_API_PORT: String(demoApi),
    SLUICE_REDIS_PREFIX: `sluice-qs-${suffix}:`,
    SLUICE_DEMO_PG_DATABASE: demoDb,
    SLUICE_DEMO_MYSQL_DATABASE: mysqlDemoDb,
  };
  mysqlListen = { host: "127.0.0.1", port: mysql as number };
  await startQuickstart();
  firstOutput = output;
}, 180_000);

afterAll(async () => {
  await stopQuickstart();
  for (const db of [demoDb, cpDb]) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin(`DROP ROLE IF EXISTS ${demoDb}`);
  spawnSync("mariadb", [
    "-h",
    "127.0.0.1",
    "-u",
    "root",
    "-e",
    `DROP DATABASE IF EXISTS ${mysqlDemoDb}; DROP USER IF EXISTS '${mysqlDemoDb}'@'%'`,
  ]);
  rmSync(home, { recursive: true, force: true });
}, 60_000);

describe("quickstart demo-pg", () => {
  it("reaches a separate demo database as a role that is not a superuser", async () => {
    const row = await throughDemoPg(async (c) => {
      const res = await c.query<{ rolsuper: boolean; db: string; who: string }>(
        "select rolsuper, current_database() as db, current_user as who from pg_roles where rolname = current_user",
      );
      return res.rows[0];
    });
    expect(row).toEqual({ rolsuper: false, db: demoDb, who: demoDb });
  });

  it("cannot read the control plane's tables", async () => {
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "read",
        (err: { code?: string }) => err.code,
      );
    // Through demo-pg: the control plane's tables are in another database.
    expect(await throughDemoPg((c) => code(c.query("select * from api_keys")))).toBe("42P01");
    const demoUsers = await throughDemoPg((c) => c.query("select count(*)::int as n from users"));
    expect(demoUsers.rows[0]?.n).toBe(4);
    // The demo role itself, straight into the control plane's database: no table is granted to it.
    const direct = new pg.Client({ host: PG_HOST, port: PG_PORT, user: demoDb, database: cpDb });
    await direct.connect();
    try {
      expect(await code(direct.query("select * from api_keys"))).toBe("42501");
      expect(await code(direct.query("select * from users"))).toBe("42501");
    } finally {
      await direct.end();
    }
  });

  it("shows the policy demo on the sample data and prints the demo database in its hints", () => {
    expect(output).toMatch(/DROP TABLE users → .*(denied|blocked|refused|not allowed)/i);
    expect(output).toMatch(/SELECT email FROM users → /);
    expect(output).not.toMatch(/SELECT email FROM users → ada@example\.com/);
    expect(output).toContain(`dbname=${demoDb}`);
    expect(output).not.toMatch(/postgres:\/\/[^\s]*:[^*\s]+@/);
  });

  it("keeps the demo role's password in a 0600 file the agent reads", () => {
    expect(statSync(join(home, `${demoDb}.pg.password`)).mode & 0o777).toBe(0o600);
    const password = readFileSync(join(home, `${demoDb}.pg.password`), "utf8").trim();
    const logs = readdirSync(join(home, "logs")).map((f) => readFileSync(join(home, "logs", f), "utf8"));
    expect(logs.length).toBeGreaterThan(0);
    for (const text of [output, ...logs]) expect(text).not.toContain(password);
  });

  it("starts again on the same state: same password, same rows, demo-pg still works", async () => {
    const password = readFileSync(join(home, `${demoDb}.pg.password`), "utf8");
    await stopQuickstart();
    await startQuickstart();
    expect(readFileSync(join(home, `${demoDb}.pg.password`), "utf8")).toBe(password);
    const res = await throughDemoPg((c) =>
      c.query<{ n: number; rolsuper: boolean }>(
        "select (select count(*)::int from users) as n, rolsuper from pg_roles where rolname = current_user",
      ),
    );
    expect(res.rows[0]).toEqual({ n: 4, rolsuper: false });
  }, 180_000);
});

/** The pid of this quickstart's process running `entry` (found by its SLUICE_HOME, as several may run). */
function servicePid(entry: string): number {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      const env = readFileSync(`/proc/${name}/environ`, "utf8");
      if (cmd.includes(entry) && env.split("\0").includes(`SLUICE_HOME=${home}`)) return Number(name);
    } catch {
      // gone, or not ours to read
    }
  }
  throw new Error(`no process runs ${entry}`);
}

describe("quickstart supervision", () => {
  it("restarts an agent killed with kill -9 instead of taking the stack down", async () => {
    const before = servicePid("apps/agent/src/main.ts");
    process.kill(before, "SIGKILL");
    await waitForOutput(/agent exited \(SIGKILL\); restarting/, 10_000);
    let who = "";
    for (let i = 0; i < 150 && !who; i++) {
      who = await throughDemoPg(
        async (c) => (await c.query("SELECT current_user AS u")).rows[0]?.u as string,
      ).catch(() => "");
      if (!who) await new Promise((r) => setTimeout(r, 200));
    }
    expect(who).not.toBe("");
    expect(servicePid("apps/agent/src/main.ts")).not.toBe(before);
    expect(child?.exitCode).toBeNull();
  }, 60_000);
});

describe("quickstart demo-mysql", () => {
  it("registers demo-mysql on the machine's MariaDB and serves it through the agent, guarded and masked", () => {
    expect(output).toContain(`demo MySQL database: ${mysqlDemoDb}`);
    const key = readFileSync(join(home, "admin.key"), "utf8").trim();
    const mariadb = (sql: string) =>
      spawnSync(
        "mariadb",
        [
          "-h",
          mysqlListen.host,
          "-P",
          String(mysqlListen.port),
          "--ssl",
          "-u",
          "admin",
          `-p${key}`,
          "--batch",
          "demo-mysql",
          "-e",
          sql,
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
    const rows = mariadb("SELECT name, email FROM users ORDER BY name");
    expect(rows.status, rows.stderr).toBe(0);
    expect(rows.stdout).toMatch(/name\temail/);
    expect(rows.stdout).not.toMatch(/@example\.com/);
    const drop = mariadb("DROP TABLE users");
    expect(drop.status).not.toBe(0);
    expect(drop.stderr).toContain("no-destructive-ddl");
    expect(readFileSync(join(home, `${mysqlDemoDb}.mysql.password`), "utf8").trim().length).toBeGreaterThan(
      10,
    );
  });
});

describe("quickstart demo-api", () => {
  it("prints the demo request through the agent: emails and cards masked, the DELETE refused naming the rule", () => {
    for (const printed of [firstOutput, output]) {
      expect(printed).toMatch(/demo HTTP API: http:\/\/127\.0\.0\.1:\d+ \(plain HTTP on loopback\)/);
      expect(printed).toMatch(/GET \/v1\/customers → Ada Lovelace <[^>]+>, card \*+1111\n/);
      expect(printed).not.toContain("ada@example.com");
      expect(printed).not.toContain("4111111111111111");
      expect(printed).toMatch(
        /DELETE \/v1\/customers\/1 → 403 policy\.denied \(rule no-customer-deletes\): customers are not deleted/,
      );
    }
  });

  it("prints a curl command that works as printed, and sluice http gives the same masked answer", () => {
    const curl = /^ {2}(curl --cacert \S+ -H .*)$/m.exec(output)?.[1];
    expect(curl).toBeDefined();
    const res = spawnSync("sh", ["-c", `${curl} --silent --show-error --fail`], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const body = JSON.parse(res.stdout) as { customers: { email: string; card: string }[] };
    expect(body.customers).toHaveLength(4);
    for (const c of body.customers) {
      expect(c.email).not.toMatch(/@example\.com$/);
      expect(c.card).toMatch(/^\*+\d{4}$/);
    }
    expect(output).toContain("sluice.js http demo-api GET /v1/customers");
    const cli = spawnSync(
      process.execPath,
      ["apps/cli/bin/sluice.js", "http", "demo-api", "DELETE", "/v1/customers/2", "--fail"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000,
        env: {
          ...process.env,
          SLUICE_URL: `http://127.0.0.1:${apiPort}`,
          SLUICE_API_KEY: readFileSync(join(home, "admin.key"), "utf8").trim(),
          SLUICE_CONFIG_DIR: join(home, "cli"),
        },
      },
    );
    expect(cli.status).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      error: { code: "policy.denied", rule: "no-customer-deletes" },
    });
  }, 60_000);

  it("keeps the API's token from callers: the API refuses them without it, and it is in no output or log", async () => {
    const direct = await fetch(`http://127.0.0.1:${demoApiPort}/v1/customers`);
    expect(direct.status).toBe(401);
    const file = join(home, "demo-api.token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, "utf8").trim();
    const logs = readdirSync(join(home, "logs")).map((f) => readFileSync(join(home, "logs", f), "utf8"));
    for (const text of [firstOutput, output, ...logs]) expect(text).not.toContain(token);
  });
});
