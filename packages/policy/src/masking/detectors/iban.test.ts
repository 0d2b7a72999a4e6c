import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { ibanChecksumValid, ibanDetector } from "./iban";

const find = (text: string) => detect(ibanDetector, text);

describe("IBAN detector", () => {
  it("finds IBANs compact, grouped and in lower case", () => {
    expect(find("DE89370400440532013000")).toEqual(["DE89370400440532013000"]);
    expect(find("pay to DE89 3704 0044 0532 0130 00 today")).toEqual(["DE89 3704 0044 0532 0130 00"]);
    expect(find("GB82 WEST 1234 5698 7654 32")).toEqual(["GB82 WEST 1234 5698 7654 32"]);
    expect(find("NL91ABNA0417164300, FR1420041010050500013M02606")).toEqual([
      "NL91ABNA0417164300",
      "FR1420041010050500013M02606",
    ]);
    expect(find("de89370400440532013000")).toEqual(["de89370400440532013000"]);
  });

  it("rejects wrong checksums, lengths, unknown countries and longer tokens", () => {
    for (const text of [
      "DE89370400440532013001",
      "DE8937040044053201300",
      "XX89370400440532013000",
      "DE89370400440532013000X",
      "ABCD1234",
      "SKU AB12 3456",
      "DE89 3704 0044 0532 0130", // cut short
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("checks mod-97", () => {
    expect(ibanChecksumValid("GB82WEST12345698765432")).toBe(true);
    expect(ibanChecksumValid("GB82WEST12345698765433")).toBe(false);
  });
});
