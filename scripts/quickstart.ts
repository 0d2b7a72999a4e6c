/**
 * Brings up a local Sluice: database (embedded PostgreSQL unless DATABASE_URL is set),
 * Redis (reused, or redis-server started), a private CA, the control plane, one enrolled
 * agent and demo connections (a database, a MySQL/MariaDB one when a server answers, and a
 * small HTTP API). Runs in the foreground until Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createCertificateAuthority, issueCertificate } from "@sluice/pki";
import pg from "pg";
import { type DemoApi, startDemoApi } from "./lib/demo-api";
import { DEMO_API_POLICY, demoApiTour } from "./lib/demo-api-tour";
import { type DemoMysql, ensureDemoMysql } from "./lib/demo-mysql";
import { type DemoPostgres, ensureDemoPostgres } from "./lib/demo-postgres";
import { secretFile } from "./lib/secret-file";
import { ensureRedis, reachable, startEmbeddedPostgres } from "./lib/services";
import { createSupervisor, untilServed, waitFor } from "./lib/supervisor";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const home = resolve(process.env.SLUICE_HOME ?? join(root, ".sluice"));
const apiPort = Number(process.env.SLUICE_API_PORT ?? 8080);
const grpcPort = Number(process.env.SLUICE_GRPC_PORT ?? 8443);
const pgListen = process.env.SLUICE_PG_LISTEN ?? "127.0.0.1:6432";
const mysqlListen = process.env.SLUICE_MYSQL_LISTEN ?? "127.0.0.1:3307";
const httpListen = process.env.SLUICE_HTTP_LISTEN ?? "127.0.0.1:8081";
const kubeListen = process.env.SLUICE_KUBE_LISTEN ?? "127.0.0.1:6443";
const demoApiPort = Number(process.env.SLUICE_DEMO_API_PORT ?? 8090);
const cleanups: (() => Promise<void>)[] = [];

function say(line = ""): void {
  process.stdout.write(`${line}\n`);
}

const supervisor = createSupervisor({
  cwd: root,
  logDir: join(home, "logs"),
  say,
  onGiveUp: () => void shutdown(1),
});
const run = supervisor.run;

async function ensurePki(): Promise<{ ca: string; caKey: string; cert: string; key: string }> {
  const dir = join(home, "pki");
  const files = {
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca.key"),
    cert: join(dir, "control-plane.pem"),
    key: join(dir, "control-plane.key"),
  };
  if (!existsSync(files.cert)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ca = await createCertificateAuthority("Sluice local CA");
    const leaf = await issueCertificate(ca, {
      commonName: "sluice-control-plane",
      hosts: ["localhost", "127.0.0.1"],
    });
    writeFileSync(files.ca, ca.certPem);
    writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, leaf.certPem);
    writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  }
  return files;
}

async function api(path: string, key: string, init: { method?: string; body?: unknown } = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  const body = await res.json().catch(() => null);
  if (!res.ok && res.status !== 409)
    throw new Error(`${init.method ?? "GET"} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Runs one query through the agent's native listener, with the API key as the password. */
interface DemoResult {
  who: string;
  /** The guardrail's answer to a DROP TABLE. */
  blocked: string;
  /** An email address as the masking rule returns it. */
  masked: string;
}

async function demoQuery(host: string, port: number, apiKey: string): Promise<DemoResult> {
  const client = new pg.Client({
    host,
    port,
    database: "demo-pg",
    user: "admin",
    password: apiKey,
    ssl: false,
  });
  await client.connect();
  try {
    const res = await client.query<{ who: string }>("SELECT current_user AS who");
    const blocked = await client.query("DROP TABLE users").then(
      () => "not blocked",
      (err: Error) => err.message,
    );
    const email = await client.query<{ email: string }>("SELECT email FROM users ORDER BY id LIMIT 1");
    return { who: res.rows[0]?.who ?? "?", blocked, masked: email.rows[0]?.email ?? "?" };
  } finally {
    await client.end();
  }
}

const DEMO_POLICY = {
  name: "demo-safety",
  description: "no destructive statements on the demo database; emails masked",
  guardrails: [
    { name: "no-destructive-ddl", statementKinds: ["DROP", "TRUNCATE", "ALTER", "GRANT", "COPY PROGRAM"] },
    { name: "where-required", requireWhere: true },
  ],
  masking: [{ name: "emails", detector: "email", action: "redact" }],
};

/**
 * Registers (or, from an earlier quickstart, repoints) demo-pg at the demo database, with
 * the demo role's password file as its credential: only the agent reads it.
 */
async function registerDemo(adminKey: string, demo: DemoPostgres): Promise<void> {
  const existingPolicy = await api("/policies/demo-safety", adminKey).catch(() => undefined);
  const policy =
    existingPolicy?.id !== undefined
      ? existingPolicy
      : await api("/policies", adminKey, { method: "POST", body: DEMO_POLICY });
  const settings = {
    policyIds: [policy.id],
    description: "the quickstart's demo database (sample users and orders)",
    host: demo.host,
    port: demo.port,
    database: demo.database,
    username: demo.username,
    credentialRef: `file:${demo.passwordFile}`,
  };
  const existing = await api("/connections/demo-pg", adminKey).catch(() => undefined);
  if (existing?.id !== undefined) {
    await api(`/connections/${existing.id}`, adminKey, { method: "PATCH", body: settings });
  } else {
    await api("/connections", adminKey, {
      method: "POST",
      body: { name: "demo-pg", type: "postgres", ...settings },
    });
  }
}

/** Registers (or repoints) demo-mysql at the MySQL/MariaDB demo database, under the same policy. */
async function registerMysqlDemo(adminKey: string, demo: DemoMysql): Promise<void> {
  const policy = await api("/policies/demo-safety", adminKey);
  const settings = {
    policyIds: [policy.id],
    description: "the quickstart's MySQL/MariaDB demo database (sample users and cards)",
    host: demo.host,
    port: demo.port,
    database: demo.database,
    username: demo.username,
    credentialRef: `file:${demo.passwordFile}`,
  };
  const existing = await api("/connections/demo-mysql", adminKey).catch(() => undefined);
  if (existing?.id !== undefined) {
    await api(`/connections/${existing.id}`, adminKey, { method: "PATCH", body: settings });
  } else {
    await api("/connections", adminKey, {
      method: "POST",
      body: { name: "demo-mysql", type: "mysql", ...settings },
    });
  }
}

/**
 * Registers (or repoints) demo-api at the demo HTTP API, with the API's bearer token file
 * as its credential: the agent injects it, callers present their Sluice credential instead.
 */
async function registerApiDemo(adminKey: string, demo: DemoApi): Promise<void> {
  const existingPolicy = await api("/policies/demo-api-safety", adminKey).catch(() => undefined);
  const policy =
    existingPolicy?.id !== undefined
      ? existingPolicy
      : await api("/policies", adminKey, { method: "POST", body: DEMO_API_POLICY });
  const settings = {
    policyIds: [policy.id],
    description: "the quickstart's demo HTTP API (customers with emails and card numbers, refunds)",
    host: demo.host,
    port: demo.port,
    tls: { mode: "disable" },
    credentialRef: `file:${demo.tokenFile}`,
    http: { inject: { kind: "bearer" } },
  };
  const existing = await api("/connections/demo-api", adminKey).catch(() => undefined);
  if (existing?.id !== undefined) {
    await api(`/connections/${existing.id}`, adminKey, { method: "PATCH", body: settings });
  } else {
    await api("/connections", adminKey, {
      method: "POST",
      body: { name: "demo-api", type: "http", ...settings },
    });
  }
}

/** Starts the demo HTTP API on loopback; a busy port is reported with the setting that moves it. */
async function startApiDemo(): Promise<DemoApi> {
  try {
    return await startDemoApi({ home, port: demoApiPort });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE") throw err;
    throw new Error(
      `port ${demoApiPort} is in use: set SLUICE_DEMO_API_PORT to another port for the demo API`,
    );
  }
}

async function shutdown(code: number): Promise<never> {
  await supervisor.stopAll();
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  process.exit(code);
}

async function main(): Promise<void> {
  // Traversable (not listable) so a root-run quickstart can hand the data dir to the postgres user.
  mkdirSync(home, { recursive: true, mode: 0o711 });
  say(`Sluice quickstart — state in ${home}`);
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres(
      join(home, "data"),
      Number(process.env.SLUICE_EMBEDDED_PG_PORT ?? 54329),
    );
    cleanups.push(pg.stop);
    databaseUrl = pg.url;
    say(`• database: embedded PostgreSQL at ${databaseUrl.replace(/:[^:@/]+@/, ":***@")}`);
  } else {
    say("• database: DATABASE_URL");
  }
  const redis = await ensureRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", join(home, "data"));
  say(`• redis: ${redis.url}${redis.started ? " (started redis-server)" : ""}`);
  const pki = await ensurePki();
  const masterKey = secretFile(join(home, "master.key"), () => randomBytes(32).toString("base64"));
  const adminKeyFile = join(home, "admin.key");

  run(
    "control plane",
    "apps/control-plane/src/main.ts",
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      SLUICE_API_PORT: String(apiPort),
      SLUICE_GRPC_PORT: String(grpcPort),
      SLUICE_GRPC_TLS_CERT_FILE: pki.cert,
      SLUICE_GRPC_TLS_KEY_FILE: pki.key,
      SLUICE_CA_CERT_FILE: pki.ca,
      SLUICE_CA_KEY_FILE: pki.caKey,
      SLUICE_MASTER_KEY: masterKey,
      SLUICE_MIGRATE_ON_START: "true",
      SLUICE_BOOTSTRAP_ADMIN_KEY_FILE: adminKeyFile,
    },
    "control-plane.log",
  );
  await waitFor(async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`)).ok, "the control plane");
  await waitFor(async () => existsSync(adminKeyFile), "the bootstrap admin key", 5000);
  const adminKey = readFileSync(adminKeyFile, "utf8").trim();
  say(`• control plane: http://127.0.0.1:${apiPort} (gRPC for agents on :${grpcPort}, TLS)`);

  const tokenFile = join(home, "agent.token");
  if (!existsSync(tokenFile)) {
    const created = await api("/agents", adminKey, { method: "POST", body: { name: "local-agent" } });
    const token =
      created?.enrollmentToken ??
      (await api("/agents/local-agent/rotate-token", adminKey, { method: "POST" })).enrollmentToken;
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  }
  const demo = await ensureDemoPostgres({
    adminUrl: databaseUrl,
    home,
    name: process.env.SLUICE_DEMO_PG_DATABASE ?? "sluice_demo",
    privateServer: !process.env.DATABASE_URL,
  });
  say(
    `• demo database: ${demo.database} on ${demo.host}:${demo.port}, owned by role ${demo.username} (not a superuser)`,
  );
  await registerDemo(adminKey, demo);
  const mysqlDemo = await ensureDemoMysql({
    home,
    ...(process.env.SLUICE_DEMO_MYSQL_URL ? { adminUrl: process.env.SLUICE_DEMO_MYSQL_URL } : {}),
    name: process.env.SLUICE_DEMO_MYSQL_DATABASE ?? "sluice_demo",
  });
  if (mysqlDemo.available) {
    await registerMysqlDemo(adminKey, mysqlDemo.demo);
    say(
      `• demo MySQL database: ${mysqlDemo.demo.database} on ${mysqlDemo.demo.host}:${mysqlDemo.demo.port} (user ${mysqlDemo.demo.username})`,
    );
  } else {
    say(
      `• no MySQL/MariaDB demo: ${mysqlDemo.reason} (start one on 127.0.0.1:3306, or set SLUICE_DEMO_MYSQL_URL=mysql://admin@host:port, and run the quickstart again)`,
    );
  }
  const apiDemo = await startApiDemo();
  cleanups.push(apiDemo.close);
  await registerApiDemo(adminKey, apiDemo);
  say(
    `• demo HTTP API: http://${apiDemo.host}:${apiDemo.port} (plain HTTP on loopback), bearer token in ${apiDemo.tokenFile}`,
  );
  run(
    "agent",
    "apps/agent/src/main.ts",
    {
      SLUICE_CONTROL_PLANE_GRPC: `localhost:${grpcPort}`,
      SLUICE_AGENT_TOKEN_FILE: tokenFile,
      SLUICE_CA_FILE: pki.ca,
      SLUICE_AGENT_STATE_DIR: join(home, "agent"),
      SLUICE_PG_LISTEN: pgListen,
      SLUICE_MYSQL_LISTEN: mysqlListen,
      SLUICE_HTTP_LISTEN: httpListen,
      SLUICE_KUBE_LISTEN: kubeListen,
    },
    "agent.log",
  );
  await waitFor(
    async () => (await api("/agents/local-agent", adminKey)).status === "online",
    "the agent to connect",
  );
  const [pgHost, pgPort] = pgListen.split(":");
  // After a restart the control plane may still list the previous agent as online:
  // wait until this agent's own listener answers.
  await waitFor(() => reachable(pgHost ?? "127.0.0.1", Number(pgPort)), "the agent's Postgres listener");
  const served = ["demo-pg", ...(mysqlDemo.available ? ["demo-mysql"] : []), "demo-api"];
  say(`• agent: local-agent is online and serving ${served.join(", ")}`);
  const result = await untilServed(() => demoQuery(pgHost ?? "127.0.0.1", Number(pgPort), adminKey));
  say(
    `• demo query through the agent: connected to demo-pg as ${result.who} (the agent holds that password; you don't)`,
  );
  say(`• policy demo-safety: DROP TABLE users → ${result.blocked}`);
  say(`• policy demo-safety: SELECT email FROM users → ${result.masked}`);
  const [httpHost, httpPort] = httpListen.split(":");
  await waitFor(
    () => reachable(httpHost ?? "127.0.0.1", Number(httpPort)),
    "the agent's HTTP listener",
    15_000,
  );
  // The CA that signed the agent's certificate, in a file for the curl line below.
  const { caPem } = await api("/ca", adminKey);
  const agentCaFile = join(home, "agent-ca.pem");
  writeFileSync(agentCaFile, caPem);
  const agentHttp = { host: httpHost ?? "127.0.0.1", port: Number(httpPort), caPem, token: adminKey };
  const tour = await untilServed(async () => {
    const t = await demoApiTour(agentHttp, "demo-api");
    if (/not served by this agent/.test(t.listed)) throw new Error(t.listed);
    return t;
  });
  say(
    `• demo requests through the agent: https://${httpListen}/demo-api/… with your Sluice key as the bearer token (the agent holds the API's token; you don't)`,
  );
  say(`• policy demo-api-safety: GET /v1/customers → ${tour.listed}`);
  say(`• policy demo-api-safety: DELETE /v1/customers/1 → ${tour.deleted}`);
  say();
  say("Sluice is running. In another terminal:");
  say(`  node apps/cli/bin/sluice.js login --url http://127.0.0.1:${apiPort} --api-key - < ${adminKeyFile}`);
  say("  node apps/cli/bin/sluice.js exec demo-pg -c 'select now()'");
  say(
    `  node apps/cli/bin/sluice.js connect demo-pg --port 5433   # then: psql 'host=127.0.0.1 port=5433 dbname=${demo.database} sslmode=disable'`,
  );
  say(
    `  PGPASSWORD="$(cat ${adminKeyFile})" psql "host=${pgHost} port=${pgPort} dbname=demo-pg user=admin sslmode=disable"`,
  );
  if (mysqlDemo.available) {
    const [myHost, myPort] = mysqlListen.split(":");
    say("  node apps/cli/bin/sluice.js exec demo-mysql -c 'SELECT name, email FROM users'");
    say(
      `  mysql -h ${myHost} -P ${myPort} --ssl -u admin -p"$(cat ${adminKeyFile})" demo-mysql   # the password is your Sluice key`,
    );
  }
  say("  node apps/cli/bin/sluice.js http demo-api GET /v1/customers");
  say(
    `  curl --cacert ${agentCaFile} -H "Authorization: Bearer $(cat ${adminKeyFile})" https://${httpListen}/demo-api/v1/customers`,
  );
  say(
    "  node apps/cli/bin/sluice.js connect demo-api --port 8082   # then: curl http://127.0.0.1:8082/v1/customers",
  );
  say("  node apps/cli/bin/sluice.js sessions list");
  say("  node apps/cli/bin/sluice.js policies test demo-safety -c 'DELETE FROM users'");
  say(`Logs: ${join(home, "logs")}. Stop with Ctrl-C.`);
  if (process.env.SLUICE_QUICKSTART_EXIT === "1") await shutdown(0);
}

process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
main().catch(async (err: unknown) => {
  say(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
});
