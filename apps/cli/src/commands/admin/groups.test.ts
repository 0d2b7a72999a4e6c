import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../../fake-control-plane.testing";
import { groupCreateBody, groupUpdateBody } from "./groups";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

describe("sluice admin groups", () => {
  it("maps create and update flags", () => {
    expect(groupCreateBody("dba", { description: "DB admins" })).toEqual({
      name: "dba",
      description: "DB admins",
    });
    expect(groupUpdateBody({ name: "dbas" })).toEqual({ name: "dbas" });
  });

  it("add-member and remove-member call PUT and DELETE on the membership", async () => {
    cp.route("PUT /groups/dba/members/ada", { status: 204 });
    cp.route("DELETE /groups/dba/members/ada", { status: 204 });
    expect((await runAgainst(cp, ["admin", "groups", "add-member", "dba", "ada"])).out).toBe(
      "added ada to group dba\n",
    );
    expect(cp.requests.at(-1)?.method).toBe("PUT");
    expect((await runAgainst(cp, ["admin", "groups", "remove-member", "dba", "ada"])).out).toBe(
      "removed ada from group dba\n",
    );
    expect(cp.requests.at(-1)?.method).toBe("DELETE");
  });

  it("lists groups with member counts", async () => {
    cp.route("GET /groups", {
      status: 200,
      body: {
        items: [
          { id: "g1", name: "dba", description: "", members: 3, createdAt: "2025-01-01T10:00:00.000Z" },
        ],
      },
    });
    expect((await runAgainst(cp, ["admin", "groups", "list"])).out).toBe(
      "NAME  MEMBERS  DESCRIPTION  CREATED               ID\ndba   3        -            2025-01-01 10:00:00Z  g1\n",
    );
  });
});
