import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../../fake-control-plane.testing";
import { policyCreateBody, policyUpdateBody, readPolicyRules } from "./policies";

const guardrails = [{ name: "no-drop", action: "deny", statementKinds: ["DROP"] }];
const masking = [{ name: "emails", detector: "email" }];

let cp: FakeControlPlane;
let dir: string;
beforeAll(async () => {
  cp = await startFakeControlPlane();
  dir = await mkdtemp(join(tmpdir(), "sluice-policy-"));
  await writeFile(join(dir, "guardrails.json"), JSON.stringify(guardrails));
  await writeFile(join(dir, "masking.json"), JSON.stringify(masking));
  await writeFile(
    join(dir, "policy.json"),
    JSON.stringify({ name: "from-file", description: "d", reviewRules: [] }),
  );
});
afterAll(() => cp.close());

describe("policy bodies", () => {
  it("reads rule arrays from files into the body", async () => {
    const rules = await readPolicyRules({
      guardrails: join(dir, "guardrails.json"),
      masking: join(dir, "masking.json"),
    });
    expect(policyCreateBody("prod", { description: "prod rules" }, rules)).toEqual({
      name: "prod",
      description: "prod rules",
      guardrails,
      masking,
    });
    expect(policyUpdateBody({}, { masking: [] })).toEqual({ masking: [] });
    await expect(readPolicyRules({ reviewRules: join(dir, "policy.json") })).rejects.toThrow(
      "must hold a JSON array",
    );
  });
});

describe("sluice admin policies", () => {
  it("create takes the whole body from -f, with the positional name winning", async () => {
    cp.route("POST /policies", (req) => ({ status: 201, body: { id: "p1", ...(req.body as object) } }));
    const res = await runAgainst(cp, [
      "admin",
      "policies",
      "create",
      "prod",
      "-f",
      join(dir, "policy.json"),
      "--guardrails",
      join(dir, "guardrails.json"),
    ]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({ name: "prod", description: "d", reviewRules: [], guardrails });
  });
});
