import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../testing/control-plane.testing";

let cp: TestControlPlane;
let queryKeys: Map<string, string[]>;

/** Query parameter names per OpenAPI path (`/api/v1/sessions` → connection, user, …). */
async function openApiQueryKeys(): Promise<Map<string, string[]>> {
  const doc = (await cp.api("/api/v1/openapi.json", { key: null })).body as {
    paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
  };
  const keys = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    const names = (ops.get?.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
    keys.set(path.replace(/\{([^}]+)\}/g, ":$1"), names);
  }
  return keys;
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  queryKeys = await openApiQueryKeys();
}, 60_000);

afterAll(async () => {
  await cp?.stop();
});

const getRoutes = () => cp.routes.filter((r) => r.method === "GET").map((r) => r.url);
const withParams = () => getRoutes().filter((url) => url.includes(":"));
const fill = (url: string, value: string) => url.replace(/:[A-Za-z]+/g, value);

const hostile = {
  nul: "%00",
  "control characters": "a%01%1Fb",
  "over-long": "a".repeat(10_000),
  "bad percent-encoding": "%ED%A0%80",
};

const hostileQuery = { nul: "%00", "control characters": "a%01%1Fb", "over-long": "a".repeat(5000) };
/** Routes that answer 503 in this test because OIDC login is not configured. */
const unavailable = { "/api/v1/auth/login": 503 };

function expectApiError(res: { status: number; body: any }, what: string, status = 400) {
  expect(res.status, what).toBe(status);
  expect(res.body?.error?.code, what).toBe("request.invalid");
  expect(typeof res.body?.error?.message, what).toBe("string");
}

describe("path parameters and query strings", () => {
  it("sees the routes the API registered", () => {
    expect(withParams().length).toBeGreaterThan(10);
    expect(withParams()).toContain("/api/v1/connections/:id");
  });

  it("answers GET /api/v1/connections/%00 with 400 in the API's error shape", async () => {
    const res = await cp.api("/api/v1/connections/%00");
    expectApiError(res, "GET /api/v1/connections/%00");
    expect(res.body.error.message).toMatch(/control characters/);
  });

  it("answers 400, never 5xx, to a hostile value in any GET route's path parameter", async () => {
    const wrong: string[] = [];
    for (const url of withParams()) {
      for (const [what, value] of Object.entries(hostile)) {
        const res = await cp.api(fill(url, value));
        if (res.status !== 400 || res.body?.error?.code !== "request.invalid")
          wrong.push(`${url} with ${what} → ${res.status} ${res.text.slice(0, 120)}`);
        if (res.text.length > 2000) wrong.push(`${url} with ${what} echoes ${res.text.length} bytes`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers 400 to a NUL in a path parameter whatever the method", async () => {
    const wrong: string[] = [];
    for (const r of cp.routes.filter((r) => r.url.includes(":") && r.method !== "HEAD")) {
      const res = await cp.api(fill(r.url, "%00"), {
        method: r.method,
        body: r.method === "GET" ? undefined : {},
      });
      if (res.status !== 400) wrong.push(`${r.method} ${r.url} → ${res.status} ${res.text.slice(0, 120)}`);
    }
    expect(wrong).toEqual([]);
  });

  it("answers a valid-looking value without a 5xx", async () => {
    const wrong: string[] = [];
    for (const url of withParams()) {
      for (const value of [randomUUID(), "demo-pg", "ada@example.com"]) {
        const res = await cp.api(fill(url, encodeURIComponent(value)));
        if (res.status >= 500) wrong.push(`${url} with ${value} → ${res.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers 400 to a hostile value in any GET route's query string", async () => {
    const wrong: string[] = [];
    for (const url of getRoutes()) {
      const path = fill(url, randomUUID());
      for (const key of [...(queryKeys.get(url) ?? []), "unexpected"]) {
        for (const [what, value] of Object.entries(hostileQuery)) {
          const res = await cp.api(`${path}?${key}=${value}`);
          if (res.status !== 400)
            wrong.push(`${url}?${key} with ${what} → ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers odd but harmless query values without a 5xx", async () => {
    const wrong: string[] = [];
    for (const url of getRoutes()) {
      const path = fill(url, randomUUID());
      for (const key of [...(queryKeys.get(url) ?? []), "unexpected"]) {
        for (const value of ["%ED%A0%80", randomUUID(), "demo-pg", "a".repeat(200)]) {
          const res = await cp.api(`${path}?${key}=${value}`);
          if (res.status >= 500 && !(url in unavailable))
            wrong.push(`${url}?${key}=${value.slice(0, 20)} → ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers an OAuth endpoint's bad query in the OAuth error shape", async () => {
    const res = await cp.api("/api/v1/auth/callback?code=%00", { key: null });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "invalid_request",
      error_description: expect.stringMatching(/control/),
    });
  });

  it("answers 400 to a NUL in a known query parameter, in the API's error shape", async () => {
    for (const path of [
      "/api/v1/sessions?connection=%00",
      "/api/v1/audit?actor=%00",
      "/api/v1/reviews?x=%00",
    ]) {
      expectApiError(await cp.api(path), path);
    }
  });

  it("bounds the number of query parameters", async () => {
    const many = Array.from({ length: 40 }, (_, i) => `k${i}=v`).join("&");
    expectApiError(await cp.api(`/api/v1/sessions?${many}`), "40 query parameters");
  });
});
