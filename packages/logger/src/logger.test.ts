import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, destination };
}

describe("createLogger", () => {
  it("redacts credentials wherever they sit in the log object", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "test", destination });
    const canary = "canary-7f3e9a";
    log.info({ password: canary, user: { token: canary }, conn: { credential: canary } }, "hello");
    log.info({ req: { headers: { authorization: `Bearer ${canary}` } } }, "request");
    log.info({ target: { auth: { password: canary } }, grant: canary, apiKey: canary }, "nested");
    log.info({ enrollmentToken: canary, query: `select '${canary}'` }, "more");
    const out = lines.join("");
    expect(lines).toHaveLength(4);
    expect(out).not.toContain(canary);
    expect(out).toContain("[redacted]");
  });

  it("keeps ordinary fields and child bindings", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "test", destination }).child({ sessionId: "s-1" });
    log.info({ connection: "pg-prod" }, "opened");
    const entry = JSON.parse(lines[0] ?? "{}");
    expect(entry).toMatchObject({ sessionId: "s-1", connection: "pg-prod", msg: "opened", svc: "test" });
  });
});
