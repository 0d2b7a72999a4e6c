import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, loadConfig, redactConfig } from "./load-config";

const schema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535),
  URL: z.url(),
  SECRET: z.string().min(8),
});

describe("loadConfig", () => {
  it("reports every problem at once", () => {
    try {
      loadConfig(schema, { PORT: "99999", URL: "nope" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(3);
      expect(problems.join("\n")).toMatch(/PORT/);
      expect(problems.join("\n")).toMatch(/URL/);
      expect(problems.join("\n")).toMatch(/SECRET/);
    }
  });

  it("reads *_FILE variants for secrets and freezes the result", () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-config-"));
    writeFileSync(join(dir, "secret"), "s3cr3t-value\n");
    const cfg = loadConfig(schema, { PORT: "80", URL: "http://x", SECRET_FILE: join(dir, "secret") }, [
      "SECRET",
    ]);
    expect(cfg.SECRET).toBe("s3cr3t-value");
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(redactConfig(cfg, ["SECRET"]).SECRET).toBe("[redacted]");
  });

  it("names an unreadable secret file", () => {
    expect(() =>
      loadConfig(schema, { PORT: "80", URL: "http://x", SECRET_FILE: "/nonexistent/x" }, ["SECRET"]),
    ).toThrow(/SECRET_FILE: cannot read \/nonexistent\/x/);
  });
});
