import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../../fake-control-plane.testing";
import { connectionCreateBody, connectionUpdateBody } from "./connections";

describe("connection bodies", () => {
  it("maps every flag to the create body", () => {
    const body = connectionCreateBody(
      "pg-prod",
      {
        type: "postgres",
        host: "db.internal",
        port: 5432,
        database: "app",
        username: "app_ro",
        credentialRef: "env:PG_PROD_PASSWORD",
        tlsMode: "verify-full",
        tlsServerName: "db.internal",
        agentSegment: "eu",
        agentLabel: { tier: "prod" },
        group: ["dba", "dev"],
        policy: ["no-drop", "pol_2"],
        recordRowsLimit: 50,
        description: "production",
      },
      {},
      "-----BEGIN CERTIFICATE-----\n",
    );
    expect(body).toEqual({
      name: "pg-prod",
      type: "postgres",
      host: "db.internal",
      port: 5432,
      database: "app",
      username: "app_ro",
      credentialRef: "env:PG_PROD_PASSWORD",
      tls: { mode: "verify-full", serverName: "db.internal", caPem: "-----BEGIN CERTIFICATE-----\n" },
      agentSegment: "eu",
      agentLabels: { tier: "prod" },
      allowedGroups: ["dba", "dev"],
      policyIds: ["no-drop", "pol_2"],
      recordRowsLimit: 50,
      description: "production",
    });
  });

  it("lets flags override a --from-file body, merging tls", () => {
    const base = {
      name: "file-name",
      type: "tcp",
      host: "a",
      port: 1,
      tls: { mode: "verify-ca", caPem: "PEM" },
    };
    expect(connectionCreateBody(undefined, { port: 2, tlsServerName: "a.example" }, base)).toEqual({
      ...base,
      port: 2,
      tls: { mode: "verify-ca", caPem: "PEM", serverName: "a.example" },
    });
  });

  it("rejects CA or server name without a verifying TLS mode", () => {
    const flags = { type: "postgres", host: "db", port: 5432, tlsServerName: "db" };
    expect(() => connectionCreateBody("pg", flags)).toThrow("need --tls-mode verify-ca or verify-full");
    expect(() => connectionCreateBody("pg", { ...flags, tlsServerName: undefined }, {}, "PEM")).toThrow(
      /--tls-mode/,
    );
  });

  it("requires type, host and port on create, and a change on update", () => {
    expect(() => connectionCreateBody("pg", { type: "ssh" })).toThrow(/missing --host .*, --port/);
    expect(connectionUpdateBody({ name: "renamed", group: ["ops"] })).toEqual({
      name: "renamed",
      allowedGroups: ["ops"],
    });
    expect(() => connectionUpdateBody({})).toThrow("nothing to update");
  });
});

describe("sluice admin connections", () => {
  let cp: FakeControlPlane;
  beforeAll(async () => {
    cp = await startFakeControlPlane();
  });
  afterAll(() => cp.close());

  it("create sends repeated flags as lists and reads the CA file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-conn-"));
    await writeFile(join(dir, "ca.pem"), "PEM DATA");
    cp.route("POST /connections", (req) => ({
      status: 201,
      body: { id: "c1", ...(req.body as object), policies: [] },
    }));
    const res = await runAgainst(cp, [
      "admin",
      "connections",
      "create",
      "pg-prod",
      "--type",
      "postgres",
      "--host",
      "db",
      "--port",
      "5432",
      "--group",
      "dba",
      "--group",
      "dev",
      "--agent-label",
      "tier=prod",
      "--tls-mode",
      "verify-ca",
      "--tls-ca-file",
      join(dir, "ca.pem"),
    ]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toMatchObject({
      allowedGroups: ["dba", "dev"],
      agentLabels: { tier: "prod" },
      tls: { mode: "verify-ca", caPem: "PEM DATA" },
    });
    expect(res.out.split("\n")[0]).toBe("created connection pg-prod (c1)");
  });

  it("get accepts a name and lists policies compactly", async () => {
    cp.route("GET /connections/pg-prod", {
      status: 200,
      body: {
        id: "c1",
        name: "pg-prod",
        policies: [{ id: "p1", name: "no-drop" }],
        tls: { mode: "disable" },
      },
    });
    const res = await runAgainst(cp, ["admin", "connections", "get", "pg-prod"]);
    expect(res.out).toBe("id:        c1\nname:      pg-prod\npolicies:  no-drop\ntls:       mode=disable\n");
  });
});
