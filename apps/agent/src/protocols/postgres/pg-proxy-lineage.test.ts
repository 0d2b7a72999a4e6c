import { randomBytes } from "node:crypto";
import {
  compileCommandGuard,
  compileMasking,
  initSqlParser,
  type MaskingRule,
  type PolicyDocument,
} from "@sluice/policy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompiledPolicy } from "../../core/policy-compiler";
import { pgSessionPolicy } from "./pg-policy";
import { adminPsql, psqlVia, run, startTestProxy, type TestProxy } from "./pg-proxy.testing";

const DB = `sluice_lineage_${randomBytes(4).toString("hex")}`;
const EMAIL = "ann@example.com";

function sessionPolicy(masking: MaskingRule[]) {
  const doc: PolicyDocument = { id: "p1", name: "masking", guardrails: [], masking, reviewRules: [] };
  const compiled: CompiledPolicy = {
    documents: [doc],
    masking: compileMasking(masking, { hashKey: Buffer.alloc(32, 7) }),
    commands: compileCommandGuard([doc]),
    sqlGuard: (_dialect, build) => build([doc]),
  };
  const policy = pgSessionPolicy({
    policy: compiled,
    requestReview: () => Promise.reject(new Error("no reviews here")),
    recordPolicy: () => {},
  });
  if (!policy) throw new Error("expected a session policy");
  return policy;
}

let proxy: TestProxy;

beforeAll(async () => {
  await initSqlParser();
  await adminPsql(`CREATE DATABASE ${DB}`);
  await adminPsql(
    `CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, '${EMAIL}')`,
    DB,
  );
  proxy = await startTestProxy({
    host: "127.0.0.1",
    port: 5432,
    database: DB,
    user: "postgres",
    password: async () => "",
    ssl: { mode: "disable" },
    recordRowsLimit: 10,
    policy: sessionPolicy([{ name: "emails", columns: ["^email$"], action: "redact" }]),
  });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await adminPsql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

const psql = (sql: string) => psqlVia(proxy.port, "conn", "good-token", ["-v", "ON_ERROR_STOP=0"], sql);

describe("masked lineage through the proxy", () => {
  it("masks a bare masked column and refuses it inside an expression or a predicate", async () => {
    const bare = await psql("SELECT email FROM users;");
    expect(bare.stdout.trim()).toBe("****");
    const upper = await psql("SELECT upper(email) FROM users;");
    expect(upper.stderr).toContain("ERROR:  Sluice refuses this statement");
    expect(upper.stderr).toContain('masking rule "emails"');
    expect(upper.stderr).toContain("sluice.masked_lineage");
    const probe = await psql("SELECT id FROM users WHERE email LIKE 'ann%';");
    expect(probe.stderr).toContain("sluice.masked_lineage");
    for (const r of [bare, upper, probe]) expect(`${r.stdout}${r.stderr}`).not.toContain(EMAIL);
    expect((await psql("SELECT id FROM users WHERE id = 1;")).stdout.trim()).toBe("1");
  });

  it("answers a refusal with SQLSTATE 42501", async () => {
    const r = await psqlVia(
      proxy.port,
      "conn",
      "good-token",
      ["-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose"],
      "SELECT row_to_json(u) FROM users u;",
    );
    expect(r.stderr).toContain("42501");
    expect(r.stderr).not.toContain(EMAIL);
  });
});
