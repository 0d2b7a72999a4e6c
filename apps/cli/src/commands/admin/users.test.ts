import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../../fake-control-plane.testing";
import { apiKeyBody, userCreateBody, userUpdateBody } from "./users";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

describe("user bodies", () => {
  it("maps create flags, with repeated groups", () => {
    expect(userCreateBody("ci-bot", { role: "user", kind: "service", group: ["deploy", "ci"] })).toEqual({
      name: "ci-bot",
      role: "user",
      kind: "service",
      groups: ["deploy", "ci"],
    });
  });

  it("maps --disable/--enable to disabled and rejects both", () => {
    expect(userUpdateBody({ disable: true })).toEqual({ disabled: true });
    expect(userUpdateBody({ enable: true, role: "auditor" })).toEqual({ role: "auditor", disabled: false });
    expect(() => userUpdateBody({ disable: true, enable: true })).toThrow("either --disable or --enable");
  });

  it("maps API key flags", () => {
    expect(apiKeyBody({ name: "ci", expiresInDays: 30, scope: ["sessions"] })).toEqual({
      name: "ci",
      expiresInDays: 30,
      scopes: ["sessions"],
    });
    expect(apiKeyBody({ name: "ci" })).toEqual({ name: "ci" });
  });
});

describe("sluice admin users", () => {
  it("create-key prints the secret once with a usage note", async () => {
    const key = { id: "k1", name: "ci", prefix: "slk_ab", scopes: [], expiresAt: "2025-02-01T00:00:00.000Z" };
    cp.route("POST /users/ci-bot/api-keys", { status: 201, body: { key, secret: "slk_abcdef0123456789" } });
    const res = await runAgainst(cp, [
      "admin",
      "users",
      "create-key",
      "ci-bot",
      "--name",
      "ci",
      "--expires-in-days",
      "30",
    ]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({ name: "ci", expiresInDays: 30 });
    expect(res.out).toContain("created API key ci (k1) for ci-bot, expires 2025-02-01 00:00:00Z");
    expect(res.out).toContain("  API key: slk_abcdef0123456789");
    expect(res.out).toContain("shown only once");
  });

  it("create-key requires --name and a sane expiry", async () => {
    expect((await runAgainst(cp, ["admin", "users", "create-key", "ci-bot"])).err).toContain(
      "required option '--name <name>' not specified",
    );
    expect(
      (await runAgainst(cp, ["admin", "users", "create-key", "u", "--name", "x", "--expires-in-days", "0"]))
        .code,
    ).toBe(2);
  });

  it("keys lists keys; revoke-key deletes one", async () => {
    cp.route("GET /users/ada/api-keys", {
      status: 200,
      body: {
        items: [
          {
            id: "k1",
            name: "laptop",
            prefix: "slk_x",
            scopes: [],
            expiresAt: null,
            createdAt: "2025-01-01T00:00:00Z",
          },
        ],
      },
    });
    const keys = await runAgainst(cp, ["admin", "users", "keys", "ada"]);
    expect(keys.out.split("\n")[0]).toMatch(
      /^NAME\s+PREFIX\s+SCOPES\s+EXPIRES\s+LAST USED\s+REVOKED\s+CREATED\s+ID$/,
    );
    expect(keys.out).toContain("laptop");

    cp.route("DELETE /users/ada/api-keys/k1", { status: 204 });
    expect((await runAgainst(cp, ["admin", "users", "revoke-key", "ada", "k1"])).out).toBe(
      "revoked API key k1 of ada\n",
    );
  });

  it("rejects an unknown role client side", async () => {
    const res = await runAgainst(cp, ["admin", "users", "create", "x", "--role", "root"]);
    expect(res.code).toBe(2);
    expect(res.err).toContain("Allowed choices are admin, auditor, user");
  });
});
