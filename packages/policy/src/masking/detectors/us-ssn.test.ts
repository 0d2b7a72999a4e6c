import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { usSsnDetector } from "./us-ssn";

const find = (text: string) => detect(usSsnDetector, text);

describe("US SSN detector", () => {
  it("finds AAA-GG-SSSS with dashes or spaces", () => {
    expect(find("123-45-6789")).toEqual(["123-45-6789"]);
    expect(find("SSN: 078-05-1120.")).toEqual(["078-05-1120"]);
    expect(find("123 45 6789")).toEqual(["123 45 6789"]);
  });

  it("rejects numbers that are never issued, mixed separators and plain digits", () => {
    for (const text of [
      "000-12-3456",
      "666-12-3456",
      "900-12-3456",
      "987-65-4321",
      "123-00-4567",
      "123-45-0000",
      "123456789",
      "123-45 6789",
      "1123-45-6789",
      "123-45-67890",
      "555-123-4567",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });
});
