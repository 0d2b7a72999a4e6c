import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { phoneDetector } from "./phone";

const find = (text: string) => detect(phoneDetector, text);

describe("phone detector", () => {
  it("finds E.164 numbers with or without separators", () => {
    expect(find("+14155552671")).toEqual(["+14155552671"]);
    expect(find("call +1 415 555 2671 now")).toEqual(["+1 415 555 2671"]);
    expect(find("+44 20 7946 0958")).toEqual(["+44 20 7946 0958"]);
    expect(find("+49 (30) 1234567")).toEqual(["+49 (30) 1234567"]);
    expect(find("+33 6.12.34.56.78")).toEqual(["+33 6.12.34.56.78"]);
  });

  it("finds North American formats", () => {
    for (const n of ["(555) 123-4567", "555-123-4567", "555.123.4567", "555 123 4567", "1-800-555-1234"]) {
      expect(find(`tel ${n}.`), n).toEqual([n]);
    }
  });

  it("finds national numbers with a trunk 0", () => {
    for (const n of [
      "030 12345678",
      "020 7946 0958",
      "0171 1234567",
      "06.12.34.56.78",
      "01 23 45 67 89",
      "089/1234567",
    ]) {
      expect(find(n), n).toEqual([n]);
    }
  });

  it("never matches plain digit runs, dates, times, IPs, decimals or SSNs", () => {
    for (const text of [
      "12345678901",
      "user id 4155552671",
      "2024-01-15",
      "2024-01-15 12:30:45",
      "01.02.2024 12:30",
      "15/01/2024 09:00",
      "192.168.1.1",
      "3.14159265358979",
      "123-45-6789",
      "1,234,567,890",
      "build 10.0.19041.1234",
      "+1",
      "+123",
      "0.5 mg",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("caps an E.164 match at 15 digits, dropping trailing groups", () => {
    expect(find("+1 415 555 2671 222 333")).toEqual(["+1 415 555 2671 222"]);
  });

  it("stays fast on long digit and separator runs", () => {
    const text = `+${"1 2-3.".repeat(100_000)}`;
    expect(Array.isArray(find(text))).toBe(true);
  });
});
