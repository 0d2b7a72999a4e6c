import { createServer } from "node:net";
import { ApiError, apiPath, CliError, createApiClient, ExitCode } from "@sluice/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorResponse, type FakeControlPlane, startFakeControlPlane } from "./fake-control-plane.testing";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

const client = (overrides: { apiKey?: string; timeoutMs?: number } = {}) =>
  createApiClient({ url: cp.url, apiKey: overrides.apiKey ?? cp.apiKey, timeoutMs: overrides.timeoutMs });

async function failure(promise: Promise<unknown>): Promise<CliError> {
  const err = await promise.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

describe("api client", () => {
  it("sends the bearer key and JSON, and parses the JSON answer", async () => {
    cp.route("POST /connections", (req) => ({ status: 201, body: { id: "c1", ...(req.body as object) } }));
    const created = await client().post("/connections", { name: "pg", port: 5432 });
    expect(created).toEqual({ id: "c1", name: "pg", port: 5432 });
    const req = cp.requests.at(-1);
    expect(req?.headers.authorization).toBe(`Bearer ${cp.apiKey}`);
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers.accept).toBe("application/json");
  });

  it("resolves 204 to undefined", async () => {
    cp.route("DELETE /groups/dba/members/ada", { status: 204 });
    expect(await client().delete(apiPath("groups", "dba", "members", "ada"))).toBeUndefined();
    expect(cp.requests.at(-1)?.body).toBeUndefined();
  });

  it("encodes ids and names in the path", async () => {
    cp.route("GET /connections/pg%20prod%2Feu", { status: 200, body: { id: "c2" } });
    expect(await client().get(apiPath("connections", "pg prod/eu"))).toEqual({ id: "c2" });
  });

  it("turns a contract error into an ApiError with code and issues", async () => {
    cp.route(
      "POST /users",
      errorResponse(400, "request.invalid", "invalid request body", {
        issues: [{ path: "email", message: "Invalid email address" }],
      }),
    );
    const err = await failure(client().post("/users", { name: "x", email: "nope" }));
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "request.invalid", exitCode: ExitCode.failure });
    expect((err as ApiError).issues).toEqual([{ path: "email", message: "Invalid email address" }]);
  });

  it("reports 401 with a hint and without the key", async () => {
    const err = await failure(client({ apiKey: "slk_wrong_key_123" }).get("/me"));
    expect(err).toMatchObject({ status: 401, code: "auth.invalid_credentials" });
    expect(`${err.message}\n${err.details.join("\n")}`).not.toContain("slk_wrong_key_123");
    expect(err.details.join("\n")).toContain("sluice login");
  });

  it("handles a non-JSON error body", async () => {
    cp.route("GET /agents", { status: 502, raw: "<html>bad gateway</html>" });
    const err = await failure(client().get("/agents"));
    expect(err.message).toBe("the control plane answered HTTP 502 Bad Gateway");
  });

  it("reports an unreachable control plane with exit code 3", async () => {
    const port = await closedPort();
    const err = await failure(createApiClient({ url: `http://127.0.0.1:${port}`, apiKey: "k" }).get("/me"));
    expect(err.exitCode).toBe(ExitCode.unreachable);
    expect(err.message).toBe(
      `cannot reach the control plane at http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    );
  });

  it("times out with exit code 3", async () => {
    cp.route("GET /slow", { status: 200, body: {}, delayMs: 2_000 });
    const err = await failure(client({ timeoutMs: 150 }).get("/slow"));
    expect(err.exitCode).toBe(ExitCode.unreachable);
    expect(err.message).toBe(`cannot reach the control plane at ${cp.url}: no answer within 150ms`);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}
