import { createLogger } from "@sluice/logger";
import { ConnectionSpec, type PolicySpec } from "@sluice/proto";
import { createEnvProvider, createSecretResolver } from "@sluice/secrets";
import { describe, expect, it } from "vitest";
import type { AuthorizedSession } from "./authorizer";
import { createSessionBroker } from "./broker";
import { createPolicyCompiler } from "./policy-compiler";
import { createSessionRegistry } from "./session-registry";

const logger = createLogger({ name: "test", level: "silent" });

function policy(id: string, guardrails: unknown): PolicySpec {
  return {
    id,
    name: id,
    guardrailsJson: typeof guardrails === "string" ? guardrails : JSON.stringify(guardrails),
    maskingJson: "[]",
    reviewRulesJson: "[]",
  };
}

function setup(opts: { policies?: PolicySpec[]; room?: boolean; releases?: string[] } = {}) {
  const events: { sid: string; kind: string; payload: Record<string, unknown> }[] = [];
  const ended: string[] = [];
  const registry = createSessionRegistry();
  const releases = opts.releases ?? [];
  const secrets = createSecretResolver([
    createEnvProvider({ TARGET_PW: "s3cret" }),
    {
      schemes: ["vault-db"],
      async resolve(ref) {
        return { secret: "leased", username: "dyn", release: async () => void releases.push(ref.path) };
      },
    },
  ]);
  const broker = createSessionBroker({
    policies: createPolicyCompiler({ hashKey: Buffer.alloc(32, 1) }),
    store: { state: { policies: new Map((opts.policies ?? []).map((p) => [p.id, p])) } } as never,
    reviews: { request: async () => ({ approved: false, reason: "no" }) },
    secrets,
    sink: {
      append: (sid, kind, payload) => void events.push({ sid, kind, payload }),
      commit: () => undefined,
      endSession: (sid) => void ended.push(sid),
    },
    registry,
    spool: { hasRoom: async () => opts.room ?? true },
    floorBytes: 1,
    logger,
  });
  return { broker, events, ended, registry };
}

function session(conn: Partial<ConnectionSpec>): AuthorizedSession {
  return {
    claims: {
      sid: "s1",
      sub: "u1",
      name: "ada",
      kind: "human",
      conn: "c1",
      cname: "web",
      agent: "a1",
      proto: "ssh",
      exp: 0,
    },
    connection: ConnectionSpec.fromPartial({
      id: "c1",
      name: "web",
      type: "ssh",
      host: "h",
      port: 22,
      ...conn,
    }),
    via: "grant",
  };
}

const open = { type: "ssh", via: "grant" as const, clientAddress: "127.0.0.1" };

describe("session broker", () => {
  it("writes one envelope for every protocol and ends exactly once, releasing the lease once", async () => {
    const releases: string[] = [];
    const { broker, events, ended, registry } = setup({ releases });
    const ctx = await broker.open(session({ credentialRef: "vault-db:db/creds/app" }), open);
    expect(await ctx.credential()).toEqual({ username: "dyn", secret: "leased" });
    ctx.started({ target: "h:22", user: "deploy" });
    ctx.started({ target: "again" });
    const terminated: string[] = [];
    ctx.onTerminate((r) => terminated.push(r));
    expect(registry.count()).toBe(1);
    registry.terminate("s1", "admin ended it");
    expect(terminated).toEqual(["admin ended it"]);
    await ctx.end({ reason: "client closed", bytesIn: 3, bytesOut: 4 });
    await ctx.end({ reason: "late", bytesIn: 0, bytesOut: 0 });
    await ctx.end();
    expect(events.map((e) => e.kind)).toEqual(["session.start", "session.end"]);
    expect(events[0]?.payload).toMatchObject({
      protocol: "ssh",
      connection: "web",
      identity: { id: "u1", name: "ada", kind: "human" },
      via: "grant",
      clientAddress: "127.0.0.1",
      target: "h:22",
    });
    expect(events[1]?.payload).toEqual({ reason: "client closed", bytesIn: 3, bytesOut: 4 });
    expect(ended).toEqual(["s1"]);
    expect(releases).toEqual(["db/creds/app"]);
    expect(registry.count()).toBe(0);
    expect(JSON.stringify(events)).not.toContain("leased");
  });

  it("refuses a connection of another type, and a full recording disk, before anything is leased", async () => {
    const releases: string[] = [];
    const a = setup({ releases });
    await expect(a.broker.open(session({ type: "postgres" }), open)).rejects.toMatchObject({
      code: "connection.invalid",
      message: "web is a postgres connection, not ssh",
    });
    const b = setup({ room: false, releases });
    await expect(
      b.broker.open(session({ credentialRef: "vault-db:db/creds/x" }), open),
    ).rejects.toMatchObject({
      code: "recording.disk_full",
    });
    expect(releases).toEqual([]);
  });

  it("fails closed for SSH command rules the agent cannot enforce", async () => {
    const cases: [string, PolicySpec[]][] = [
      ["an invalid pattern", [policy("p1", [{ name: "no-rm", commands: ["(unclosed"] }])]],
      ["unreadable JSON", [policy("p1", "[{not json")]],
      ["an unknown rule field", [policy("p1", [{ name: "no-rm", comands: ["rm"] }])]],
      ["a policy the agent does not hold", []],
    ];
    for (const [what, policies] of cases) {
      const { broker } = setup({ policies });
      await expect(broker.open(session({ policyIds: ["p1"] }), open), what).rejects.toMatchObject({
        code: "policy.unenforceable",
      });
    }
  });

  it("compiles command rules once for the session, matching case-insensitively", async () => {
    const { broker } = setup({
      policies: [policy("p1", [{ name: "no-rm", commands: ["^rm\\s+-rf"], message: "no deleting" }])],
    });
    const ctx = await broker.open(session({ policyIds: ["p1"] }), open);
    expect(ctx.policy?.commands.evaluate("RM -rf /")).toMatchObject({
      action: "deny",
      rule: "no-rm",
      message: "no deleting",
    });
    expect(ctx.policy?.commands.evaluate("ls -la")).toEqual({ action: "allow" });
    expect(ctx.policy?.commands.evaluate(`echo ${"x".repeat(70_000)}`)).toMatchObject({
      action: "deny",
      rule: "sluice.command_too_long",
    });
  });

  it("ends a session that never started as aborted, with the reason, and still releases its lease", async () => {
    const releases: string[] = [];
    const { broker, events, ended } = setup({ releases });
    const ctx = await broker.open(session({ credentialRef: "vault-db:db/creds/a" }), open);
    await ctx.credential();
    await ctx.end({ reason: "upstream failed", bytesIn: 0, bytesOut: 0 });
    await ctx.end({ reason: "again", bytesIn: 0, bytesOut: 0 });
    // Only the end, marked aborted, so the control plane closes the session at once.
    expect(events.map((e) => e.kind)).toEqual(["session.end"]);
    expect(events[0]?.payload).toEqual({ reason: "upstream failed", bytesIn: 0, bytesOut: 0, aborted: true });
    expect(ended).toHaveLength(1);
    expect(releases).toEqual(["db/creds/a"]);
    await expect(ctx.credential()).rejects.toMatchObject({ code: "session.not_found" });
  });
});
