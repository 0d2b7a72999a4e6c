import { backend, parseNoticeFields } from "@sluice/pg-wire";
import { compileMasking } from "@sluice/policy";
import { describe, expect, it } from "vitest";
import { HIDDEN, maskMessageFrame, maskQuoted } from "./message-masking";

const masker = (columnRule: boolean) =>
  compileMasking(
    [
      { name: "mails", detector: "email", action: "redact" },
      ...(columnRule ? [{ name: "names", columns: ["name"], action: "redact" as const }] : []),
    ],
    { hashKey: Buffer.alloc(32, 1) },
  ).textMasker();

const fieldsOf = (frame: Buffer | undefined) => (frame ? parseNoticeFields(frame.subarray(5)) : undefined);

describe("maskQuoted", () => {
  it("masks from the first double quote to the last, so a value with quotes cannot leak", () => {
    expect(maskQuoted('invalid input syntax for type integer: "Ann "Bo" Smith"')).toBe(
      'invalid input syntax for type integer: "****"',
    );
    expect(maskQuoted('value "x')).toBe('value "****"');
    expect(maskQuoted("division by zero")).toBe("division by zero");
  });
});

describe("maskMessageFrame", () => {
  it("keeps severity, SQLSTATE and position, and the severity first", () => {
    const frame = backend.errorResponse({
      S: "FATAL",
      V: "FATAL",
      C: "22P02",
      M: "x ann@example.com",
      P: "8",
    });
    const out = maskMessageFrame(frame, 0, frame.length, masker(false));
    expect(out!.subarray(5, 11).toString("latin1")).toBe("SFATAL");
    expect(fieldsOf(out)).toEqual({ S: "FATAL", V: "FATAL", C: "22P02", M: "x [email]", P: "8" });
  });

  it("returns undefined when nothing changes", () => {
    const frame = backend.errorResponse({ S: "ERROR", C: "42703", M: 'column "x" does not exist' });
    expect(maskMessageFrame(frame, 0, frame.length, masker(true))).toBeUndefined();
  });

  it("treats a RAISE with any SQLSTATE as user text on connections with column rules", () => {
    const frame = backend.errorResponse({ S: "ERROR", C: "42P01", M: "Ann Smith", R: "exec_stmt_raise" });
    expect(fieldsOf(maskMessageFrame(frame, 0, frame.length, masker(true)))).toMatchObject({ M: HIDDEN });
    expect(maskMessageFrame(frame, 0, frame.length, masker(false))).toBeUndefined();
  });

  it("masks checked settings by detector only and hides free-text ones", () => {
    const tz = backend.parameterStatus("TimeZone", "UTC");
    expect(maskMessageFrame(tz, 0, tz.length, masker(true))).toBeUndefined();
    const app = backend.parameterStatus("application_name", "Ann Smith");
    const out = maskMessageFrame(app, 0, app.length, masker(true))!;
    expect(out.subarray(5).toString("utf8")).toBe(`application_name\0${HIDDEN}\0`);
  });
});
