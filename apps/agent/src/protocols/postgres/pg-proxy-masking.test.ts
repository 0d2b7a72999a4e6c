import { randomBytes } from "node:crypto";
import { BackendCode, frontend, parseNoticeFields, parseParameterStatus } from "@sluice/pg-wire";
import {
  compileCommandGuard,
  compileGuard,
  compileMasking,
  initSqlParser,
  type MaskingRule,
  type PolicyDocument,
} from "@sluice/policy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompiledPolicy } from "../../core/policy-compiler";
import type { PolicyEvent } from "../../core/policy-types";
import { HIDDEN } from "./message-masking";
import { pgSessionPolicy } from "./pg-policy";
import { adminPsql, psqlVia, RawClient, run, startTestProxy, type TestProxy } from "./pg-proxy.testing";
import type { PgTarget } from "./pg-proxy-types";

const DB = `sluice_msgmask_${randomBytes(4).toString("hex")}`;
const EMAIL = "ann@example.com";
const NAME = "Annabel Smithers";

/**
 * The session policy the agent builds for a connection with these masking rules. Without
 * `lineage`, the SQL guard leaves out `sluice.masked_lineage` (which refuses these tests'
 * statements up front) to test the message masking behind it.
 */
function maskedPolicy(masking: MaskingRule[], lineage = true) {
  const doc: PolicyDocument = { id: "p1", name: "masking", guardrails: [], masking, reviewRules: [] };
  const compiled: CompiledPolicy = {
    documents: [doc],
    masking: compileMasking(masking, { hashKey: Buffer.alloc(32, 7) }),
    commands: compileCommandGuard([doc]),
    sqlGuard: (_dialect, build) => (lineage ? build([doc]) : compileGuard([doc])),
  };
  const events: PolicyEvent[] = [];
  const policy = pgSessionPolicy({
    policy: compiled,
    requestReview: () => Promise.reject(new Error("no reviews here")),
    recordPolicy: (ev) => events.push(ev),
  });
  if (!policy) throw new Error("expected a session policy");
  return policy;
}

const target = (policy: PgTarget["policy"]): Omit<PgTarget, "sessionId"> => ({
  host: "127.0.0.1",
  port: 5432,
  database: DB,
  user: "postgres",
  password: async () => "",
  ssl: { mode: "disable" },
  recordRowsLimit: 10,
  ...(policy ? { policy } : {}),
});

/** Detector rules only: emails are masked wherever they appear. */
let detectors: TestProxy;
/** A column rule on users.name as well: its values cannot be recognised in free text. */
let columns: TestProxy;

beforeAll(async () => {
  await initSqlParser();
  await adminPsql(`CREATE DATABASE ${DB}`);
  await adminPsql(
    `CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, name text, note text NOT NULL);
     INSERT INTO users VALUES (1, '${EMAIL}', '${NAME}', 'first')`,
    DB,
  );
  detectors = await startTestProxy(
    target(maskedPolicy([{ name: "emails", detector: "email", action: "redact" }])),
  );
  columns = await startTestProxy(
    target(
      maskedPolicy(
        [
          { name: "names", columns: ["^name$"], tables: ["users"], action: "redact" },
          { name: "emails", detector: "email", action: "redact" },
        ],
        false,
      ),
    ),
  );
}, 60_000);

afterAll(async () => {
  await detectors?.close();
  await columns?.close();
  await adminPsql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

const psql = (p: TestProxy, sql: string) =>
  psqlVia(p.port, "conn", "good-token", ["-v", "ON_ERROR_STOP=0"], sql);

/** Every recorded error message and notice of a proxy, as one string. */
function recordedMessages(p: TestProxy): string {
  const out: string[] = [];
  for (const e of p.recorder.events) {
    if (e.type === "notice") out.push(String(e.ev.message));
    const error = e.type === "result" ? (e.ev.error as { message?: string } | undefined) : undefined;
    if (error?.message) out.push(error.message);
  }
  return out.join("\n");
}

describe("content detectors on errors, notices and notifications", () => {
  it("masks a value quoted by a data exception", async () => {
    const r = await psql(detectors, "SELECT email::int FROM users;");
    expect(r.stderr).toContain('ERROR:  invalid input syntax for type integer: "[email]"');
    expect(r.stderr).not.toContain(EMAIL);
    expect(recordedMessages(detectors)).toContain('invalid input syntax for type integer: "[email]"');
  });

  it("masks the DETAIL of a unique violation", async () => {
    const r = await psql(
      detectors,
      `INSERT INTO users VALUES (2, (SELECT email FROM users WHERE id = 1), 'x', 'y');`,
    );
    expect(r.stderr).toContain('duplicate key value violates unique constraint "users_email_key"');
    expect(r.stderr).toContain("DETAIL:  Key (email)=([email]) already exists.");
    expect(r.stderr).not.toContain(EMAIL);
  });

  it("masks a RAISE NOTICE in a DO block, for the client and the recording", async () => {
    const r = await psql(
      detectors,
      "DO $$ BEGIN RAISE NOTICE 'found %', (SELECT email FROM users LIMIT 1); END $$;",
    );
    expect(r.stderr).toContain("NOTICE:  found [email]");
    expect(r.stderr).not.toContain(EMAIL);
    const recorded = recordedMessages(detectors);
    expect(recorded).toContain("found [email]");
    expect(recorded).not.toContain(EMAIL);
  });

  it("masks NOTIFY and pg_notify payloads", async () => {
    const r = await psql(
      detectors,
      "LISTEN ch;\nNOTIFY ch, 'mail ann@example.com';\nSELECT pg_notify('ch', email) FROM users;\n",
    );
    expect(r.stdout).toContain('Asynchronous notification "ch" with payload "mail [email]" received');
    expect(r.stdout).toContain('Asynchronous notification "ch" with payload "[email]" received');
    expect(r.stdout).not.toContain(EMAIL);
  });

  it("masks a reported setting (application_name echoed as ParameterStatus)", async () => {
    const c = new RawClient(detectors.port);
    await c.login("conn");
    c.socket.write(frontend.query(`SET application_name = '${EMAIL}'`));
    const frames = await c.until(BackendCode.ReadyForQuery);
    const status = frames
      .filter((f) => f.type === BackendCode.ParameterStatus)
      .map((f) => parseParameterStatus(f.body));
    expect(status).toContainEqual({ name: "application_name", value: "[email]" });
    c.socket.end(frontend.terminate());
  });

  it("leaves messages without matches alone", async () => {
    const r = await psql(detectors, "SELECT nosuchcolumn FROM users;");
    expect(r.stderr).toContain('ERROR:  column "nosuchcolumn" does not exist');
  });
});

describe("messages on a connection with column rules", () => {
  it("masks the literal a data exception quotes", async () => {
    const r = await psql(columns, "SELECT name::int FROM users;");
    expect(r.stderr).toContain('ERROR:  invalid input syntax for type integer: "****"');
    expect(r.stderr).not.toContain(NAME);
  });

  it("hides the DETAIL of an integrity violation", async () => {
    const r = await psql(columns, "INSERT INTO users SELECT 3, 'c@x.io', name, NULL FROM users;");
    expect(r.stderr).toContain("violates not-null constraint");
    expect(r.stderr).toContain(`DETAIL:  ${HIDDEN}`);
    expect(r.stderr).not.toContain(NAME);
    expect(recordedMessages(columns)).not.toContain(NAME);
  });

  it("hides text written by RAISE, whatever its SQLSTATE", async () => {
    const notice = await psql(
      columns,
      "DO $$ BEGIN RAISE NOTICE '%', (SELECT name FROM users LIMIT 1); END $$;",
    );
    expect(notice.stderr).toContain(`NOTICE:  ${HIDDEN}`);
    const error = await psql(
      columns,
      "DO $$ BEGIN RAISE EXCEPTION USING MESSAGE = (SELECT name FROM users LIMIT 1), ERRCODE = '42P01'; END $$;",
    );
    expect(error.stderr).toContain(`ERROR:  ${HIDDEN}`);
    for (const r of [notice, error]) expect(r.stderr).not.toContain(NAME);
    expect(recordedMessages(columns)).not.toContain(NAME);
  });

  it("hides notification payloads", async () => {
    const r = await psql(columns, "LISTEN ch;\nSELECT pg_notify('ch', name) FROM users;\n");
    expect(r.stdout).toContain(`Asynchronous notification "ch" with payload "${HIDDEN}" received`);
    expect(r.stdout).not.toContain(NAME);
  });

  it("keeps errors that quote no values readable", async () => {
    const r = await psql(columns, "SELECT nosuchcolumn FROM users;");
    expect(r.stderr).toContain('ERROR:  column "nosuchcolumn" does not exist');
    const c = new RawClient(columns.port);
    await c.login("conn");
    c.socket.write(frontend.query("SELECT 1/0"));
    expect(parseNoticeFields((await c.until(BackendCode.ErrorResponse)).at(-1)!.body)).toMatchObject({
      C: "22012",
      M: "division by zero",
    });
    c.socket.end(frontend.terminate());
  });
});
