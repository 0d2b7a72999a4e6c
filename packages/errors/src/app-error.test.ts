import { describe, expect, it } from "vitest";
import { AppError, toAppError } from "./app-error";
import { errorCodes, errorMapping } from "./codes";

describe("AppError", () => {
  it("keeps internal causes out of the public shape", () => {
    const err = new AppError("connection.not_found", "connection not found", {
      cause: new Error("select failed: password=hunter2"),
    });
    expect(JSON.stringify(err)).toBe('{"code":"connection.not_found","message":"connection not found"}');
    expect(err.mapping.http).toBe(404);
  });

  it("wraps unknown errors as internal with a generic message", () => {
    const err = toAppError(new Error("db exploded at 10.0.0.3"));
    expect(err.code).toBe("internal.unexpected");
    expect(err.message).toBe("internal error");
    expect(err.mapping.http).toBe(500);
  });

  it("maps every code to all four edges", () => {
    for (const code of Object.keys(errorCodes) as (keyof typeof errorCodes)[]) {
      const m = errorMapping(code);
      expect(m.http).toBeGreaterThanOrEqual(400);
      expect(m.sqlState).toMatch(/^[0-9A-Z]{5}$/);
      expect(m.grpc).toBeGreaterThan(0);
      expect(m.sshReason).toBeGreaterThan(0);
    }
  });
});
