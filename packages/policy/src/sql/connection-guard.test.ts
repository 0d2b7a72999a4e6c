import { beforeAll, describe, expect, it } from "vitest";
import { doBodyCases, guardedPolicy, parseStateCases } from "./adversarial-corpus";
import { initSqlParser } from "./classify";
import { compileConnectionGuard } from "./connection-guard";
import { compileGuard } from "./guard";

beforeAll(() => initSqlParser());

describe("compileConnectionGuard", () => {
  it("adds the COPY … TO refusal exactly when a policy masks", () => {
    const masked = {
      ...guardedPolicy,
      masking: [{ name: "emails", detector: "email" as const, action: "redact" as const }],
    };
    expect(compileConnectionGuard([masked]).evaluate("COPY users TO STDOUT")).toMatchObject({
      action: "deny",
      rule: "sluice.masked_copy",
    });
    expect(compileConnectionGuard([guardedPolicy]).evaluate("COPY users TO STDOUT")).toEqual({
      action: "allow",
    });
  });

  it("gives the verdicts of the plain guard for policies without masking, with or without a cache", () => {
    const dryRun = compileConnectionGuard([guardedPolicy], { cacheEntries: 1 });
    const enforcing = compileGuard([guardedPolicy]);
    for (const [sql] of [...parseStateCases, ...doBodyCases]) {
      expect(dryRun.evaluate(sql), sql).toEqual(enforcing.evaluate(sql));
    }
  });
});
