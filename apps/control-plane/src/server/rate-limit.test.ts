import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../testing/control-plane.testing";

let cp: TestControlPlane;

beforeAll(async () => {
  cp = await startTestControlPlane({ SLUICE_RATE_LIMIT_PER_MINUTE: "5" });
});
afterAll(async () => {
  await cp?.stop();
});

describe("API rate limit", () => {
  it("counts requests with a wrong credential, so guessing keys is throttled, and spares the health checks", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push((await cp.api("/api/v1/me", { key: `slk_aaaaaaaaaaaa.${"x".repeat(43)}` })).status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    const limited = await cp.api("/api/v1/me");
    expect(limited.status).toBe(429);
    expect(limited.body.error).toEqual({
      code: "request.rate_limited",
      message: "too many requests, slow down",
    });
    for (let i = 0; i < 10; i++) expect((await cp.api("/healthz", { key: null })).status).toBe(200);
  });
});
