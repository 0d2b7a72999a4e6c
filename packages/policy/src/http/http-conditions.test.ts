import { describe, expect, it } from "vitest";
import { compileHttpGuard, type HttpVerdict } from "./http-guard";
import { httpPolicy, json, httpRequest as req } from "./http-guard.testing";

function outcome(v: HttpVerdict): string {
  return v.action === "allow" ? "allow" : `${v.action}:${v.rule}`;
}

describe("body conditions on an allow lane", () => {
  const guard = compileHttpGuard([
    httpPolicy(
      "payments",
      [
        {
          name: "small-payments",
          action: "allow",
          http: {
            methods: ["POST"],
            paths: ["/payments"],
            body: [{ path: "$.amount", op: "lt", value: 1000 }],
          },
        },
        { name: "large-payments", action: "review", http: { methods: ["POST"], paths: ["/payments"] } },
        { name: "default-deny", http: {} },
      ],
      [{ name: "treasury", reviewerGroups: ["treasury"] }],
    ),
  ]);
  const pay = (body?: Parameters<typeof req>[3]) =>
    outcome(guard.evaluate(req("POST", "/payments", {}, body)));

  it("allows a payment whose amount is below 1000", () => {
    expect(pay(json({ amount: 999.5 }))).toBe("allow");
  });

  it.each([
    ["an amount of 1000", json({ amount: 1000 })],
    ["a larger amount", json({ amount: 25_000 })],
    ["the amount as a string", json({ amount: "5" })],
    ["no amount", json({ currency: "EUR" })],
    ["an array of amounts", json({ amount: [1, 2] })],
    ["a body that is not JSON", { unreadable: "not JSON" }],
    ["a body over the buffer limit", { unreadable: "larger than 1 MiB" }],
    ["no body", undefined],
  ])("holds a payment with %s for review", (_label, body) => {
    expect(pay(body)).toBe("review:large-payments");
  });

  it("asks for the body of the requests its body conditions decide, and only those", () => {
    expect(guard.needsBody(req("POST", "/payments"))).toBe(true);
    expect(guard.needsBody(req("GET", "/payments"))).toBe(false);
    expect(guard.needsBody(req("POST", "/refunds"))).toBe(false);
  });

  it("allows a lane over every element only when every element passes", () => {
    const g = compileHttpGuard([
      httpPolicy("cart", [
        {
          name: "small-carts",
          action: "allow",
          http: { paths: ["/cart"], body: [{ path: "$.items[*].qty", op: "le", value: 10 }] },
        },
        { name: "default-deny", http: {} },
      ]),
    ]);
    const cart = (items: unknown[]) => outcome(g.evaluate(req("POST", "/cart", {}, json({ items }))));
    expect(cart([{ qty: 1 }, { qty: 10 }])).toBe("allow");
    expect(cart([{ qty: 1 }, { qty: 50 }])).toBe("deny:default-deny");
    expect(cart([])).toBe("deny:default-deny");
  });
});

describe("body conditions on deny rules fail closed", () => {
  const rule = (name: string, body: unknown[]) => ({
    name,
    http: { methods: ["POST"], paths: ["/users"], body },
  });
  const guard = compileHttpGuard([
    httpPolicy("users", [
      rule("no-admins", [{ path: "$.role", op: "eq", value: "admin" }]),
      rule("no-sanctioned", [{ path: "$.country", op: "in", value: ["KP", "IR"] }]),
      rule("no-evil-mail", [{ path: "$..email", op: "matches", value: "@evil\\.example$" }]),
      rule("no-flag", [{ path: "$.superuser", op: "exists" }]),
      rule("big-quota", [{ path: "$.quota", op: "gt", value: 100 }]),
    ]),
  ]);
  const create = (body?: Parameters<typeof req>[3]) =>
    outcome(guard.evaluate(req("POST", "/users", {}, body)));

  it.each([
    [{ role: "admin" }, "deny:no-admins"],
    [{ role: "viewer", country: "KP" }, "deny:no-sanctioned"],
    [{ contacts: [{ email: "a@ok.example" }, { email: "B@EVIL.example" }] }, "deny:no-evil-mail"],
    [{ superuser: false }, "deny:no-flag"],
    [{ quota: 500 }, "deny:big-quota"],
    [{ quota: "50" }, "deny:big-quota"],
    [{ role: ["admin"] }, "deny:no-admins"],
  ])("denies %j", (body, expected) => {
    expect(create(json(body))).toBe(expected);
  });

  it.each([[{ role: "viewer", country: "FR", quota: 100, contacts: [{ email: "a@ok.example" }] }], [{}]])(
    "allows %j",
    (body) => {
      expect(create(json(body))).toBe("allow");
    },
  );

  it("denies when the body cannot be read, as the first body rule", () => {
    expect(create({ unreadable: "not JSON" })).toBe("deny:no-admins");
    expect(create(undefined)).toBe("deny:no-admins");
  });

  it("never needs the body when a rule without body conditions decides first", () => {
    const g = compileHttpGuard([
      httpPolicy("p", [
        { name: "no-delete", http: { methods: ["DELETE"] } },
        { name: "no-admins", http: { body: [{ path: "$.role", op: "eq", value: "admin" }] } },
      ]),
    ]);
    expect(g.needsBody(req("DELETE", "/users/1"))).toBe(false);
    expect(g.needsBody(req("PATCH", "/users/1"))).toBe(true);
  });

  it("never needs the body of a request another policy denies outright", () => {
    const g = compileHttpGuard([
      httpPolicy("baseline", [{ name: "no-delete", http: { methods: ["DELETE"] } }]),
      httpPolicy("team", [
        { name: "no-admins", http: { body: [{ path: "$.role", op: "eq", value: "admin" }] } },
      ]),
    ]);
    expect(g.needsBody(req("DELETE", "/users/1"))).toBe(false);
    expect(g.needsBody(req("PUT", "/users/1"))).toBe(true);
  });

  it("allows an absent field only when a rule asks for absence", () => {
    const g = compileHttpGuard([
      httpPolicy("p", [
        { name: "plain", action: "allow", http: { body: [{ path: "$.override", op: "absent" }] } },
        { name: "default-deny", http: {} },
      ]),
    ]);
    expect(outcome(g.evaluate(req("POST", "/x", {}, json({ a: 1 }))))).toBe("allow");
    expect(outcome(g.evaluate(req("POST", "/x", {}, json({ override: null }))))).toBe("deny:default-deny");
    expect(outcome(g.evaluate(req("POST", "/x", {}, { unreadable: "not JSON" })))).toBe("deny:default-deny");
  });
});

describe("query conditions", () => {
  const guard = compileHttpGuard([
    httpPolicy("debug", [{ name: "no-debug", http: { query: [{ name: "debug", equals: "1" }] } }]),
  ]);

  it.each(["/x?debug=1", "/x?debug=0&debug=1", "/x?DEBUG=1", "/x?debug=%31", "/x?%64ebug=1"])(
    "denies %s",
    (t) => {
      expect(outcome(guard.evaluate(req("GET", t)))).toBe("deny:no-debug");
    },
  );

  it.each(["/x", "/x?debug=0", "/x?debug=10", "/x?debugger=1"])("allows %s", (t) => {
    expect(guard.evaluate(req("GET", t))).toEqual({ action: "allow" });
  });

  it("requires every value to pass on an allow lane", () => {
    const g = compileHttpGuard([
      httpPolicy("p", [
        { name: "reads", action: "allow", http: { query: [{ name: "mode", pattern: "^read$" }] } },
        { name: "default-deny", http: {} },
      ]),
    ]);
    expect(g.evaluate(req("GET", "/x?mode=READ"))).toEqual({ action: "allow" });
    expect(outcome(g.evaluate(req("GET", "/x?mode=read&mode=write")))).toBe("deny:default-deny");
    expect(outcome(g.evaluate(req("GET", "/x")))).toBe("deny:default-deny");
  });

  it("matches a parameter by presence alone", () => {
    const g = compileHttpGuard([
      httpPolicy("p", [{ name: "no-raw", http: { query: [{ name: "raw" }] } }]),
      httpPolicy("q", [{ name: "need-tenant", http: { query: [{ name: "tenant", present: false }] } }]),
    ]);
    expect(outcome(g.evaluate(req("GET", "/x?raw&tenant=a")))).toBe("deny:no-raw");
    expect(outcome(g.evaluate(req("GET", "/x")))).toBe("deny:need-tenant");
    expect(g.evaluate(req("GET", "/x?tenant=a"))).toEqual({ action: "allow" });
  });
});

describe("header conditions", () => {
  const guard = compileHttpGuard([
    httpPolicy("headers", [
      { name: "no-internal", http: { headers: [{ name: "X-Internal-Call", present: true }] } },
      { name: "no-basic", http: { headers: [{ name: "authorization", pattern: "^basic " }] } },
      { name: "no-root", http: { headers: [{ name: "x-role", equals: "root" }] } },
    ]),
  ]);

  it.each([
    [{ "x-internal-call": "" }, "deny:no-internal"],
    [{ authorization: "Basic YTpi" }, "deny:no-basic"],
    [{ "x-role": "root" }, "deny:no-root"],
    [{ "x-role": "viewer, root" }, "deny:no-root"],
    [{ "x-role": ["viewer", "root"] }, "deny:no-root"],
  ])("denies %j", (headers, expected) => {
    expect(outcome(guard.evaluate(req("GET", "/x", headers)))).toBe(expected);
  });

  it.each([[{}], [{ authorization: "Bearer abc" }], [{ "x-role": "Root" }], [{ "x-role": "rooted" }]])(
    "allows %j",
    (headers) => {
      expect(guard.evaluate(req("GET", "/x", headers))).toEqual({ action: "allow" });
    },
  );

  it("requires every value of a header to pass on an allow lane", () => {
    const g = compileHttpGuard([
      httpPolicy("tenant", [
        { name: "acme", action: "allow", http: { headers: [{ name: "x-tenant", equals: "acme" }] } },
        { name: "default-deny", http: {} },
      ]),
    ]);
    expect(g.evaluate(req("GET", "/x", { "x-tenant": "acme" }))).toEqual({ action: "allow" });
    expect(outcome(g.evaluate(req("GET", "/x", { "x-tenant": ["acme", "globex"] })))).toBe(
      "deny:default-deny",
    );
    expect(outcome(g.evaluate(req("GET", "/x")))).toBe("deny:default-deny");
  });
});

describe("path patterns", () => {
  const guard = compileHttpGuard([
    httpPolicy("p", [{ name: "no-admin", http: { pathPattern: "^/admin$" } }]),
  ]);

  it.each(["/admin", "/Admin", "/admin/", "/x/../admin", "/%61dmin", "/admin."])("denies %s", (t) => {
    expect(outcome(guard.evaluate(req("GET", t)))).toBe("deny:no-admin");
  });

  it("tests the decoded path too", () => {
    const g = compileHttpGuard([httpPolicy("p", [{ name: "no-colon", http: { paths: ["/files/a:b"] } }])]);
    expect(outcome(g.evaluate(req("GET", "/files/a%3Ab")))).toBe("deny:no-colon");
    expect(outcome(g.evaluate(req("GET", "/files/a:b")))).toBe("deny:no-colon");
  });

  it.each([
    ["/reports/**", "/reports", true],
    ["/reports/**", "/reports/2024/q1", true],
    ["/reports/*/summary", "/reports/2024/summary", true],
    ["/reports/*/summary", "/reports/summary", false],
    ["/v*/users", "/v2/users", true],
    ["/v*/users", "/api/v2/users", false],
    ["/", "/", true],
    ["/", "/x", false],
  ])("glob %s on %s is %s", (glob, target, expected) => {
    const g = compileHttpGuard([httpPolicy("p", [{ name: "hit", http: { paths: [glob] } }])]);
    expect(g.evaluate(req("GET", target)).action === "deny").toBe(expected);
  });
});
