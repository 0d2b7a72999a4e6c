import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApi, startDemoApi } from "./demo-api";

const home = mkdtempSync(join(tmpdir(), "sluice-demo-api-"));
let api: DemoApi;
let token = "";

function call(path: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  return fetch(`http://${api.host}:${api.port}${path}`, {
    method: init.method ?? "GET",
    headers: {
      ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

beforeAll(async () => {
  api = await startDemoApi({ home, port: 0 });
  token = readFileSync(api.tokenFile, "utf8").trim();
});

afterAll(async () => {
  await api.close();
  rmSync(home, { recursive: true, force: true });
});

describe("demo API", () => {
  it("keeps its token in a 0600 file and keeps it across restarts", async () => {
    expect(api.tokenFile).toBe(join(home, "demo-api.token"));
    expect(statSync(api.tokenFile).mode & 0o777).toBe(0o600);
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    const again = await startDemoApi({ home, port: 0 });
    await again.close();
    expect(readFileSync(again.tokenFile, "utf8").trim()).toBe(token);
  });

  it("answers 401 without the token or with a wrong one", async () => {
    for (const res of [await call("/v1/customers"), await call("/v1/customers", { token: "nope" })]) {
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await res.json()).toEqual({ error: "a valid bearer token is required" });
    }
  });

  it("lists customers with names, emails and card numbers for the right token", async () => {
    const res = await call("/v1/customers", { token });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as { customers: { name: string; email: string; card: string }[] };
    expect(body.customers).toHaveLength(4);
    expect(body.customers[0]).toMatchObject({
      name: "Ada Lovelace",
      email: "ada@example.com",
      card: "4111111111111111",
    });
    expect(await (await call("/v1/customers/2", { token })).json()).toMatchObject({ name: "Grace Hopper" });
  });

  it("deletes customers and takes refunds", async () => {
    expect(await (await call("/v1/customers/4", { method: "DELETE", token })).json()).toEqual({ deleted: 4 });
    expect((await call("/v1/customers/4", { token })).status).toBe(404);
    const refund = await call("/v1/refunds", { method: "POST", token, body: { customerId: 1, amount: 25 } });
    expect(refund.status).toBe(201);
    expect(await refund.json()).toMatchObject({ customerId: 1, amount: 25, status: "pending" });
    const bad = await call("/v1/refunds", { method: "POST", token, body: { amount: -1 } });
    expect(bad.status).toBe(400);
    expect((await call("/v1/nothing", { token })).status).toBe(404);
    expect((await call("/v1/customers", { method: "POST", token, body: {} })).status).toBe(405);
  });
});
