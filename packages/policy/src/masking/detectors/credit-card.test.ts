import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { creditCardDetector, issuerValid, luhnValid } from "./credit-card";

const find = (text: string) => detect(creditCardDetector, text);

describe("credit card detector", () => {
  it("finds Luhn-valid numbers of the major networks, grouped or not", () => {
    expect(find("4111111111111111")).toEqual(["4111111111111111"]);
    expect(find("card 4111 1111 1111 1111 on file")).toEqual(["4111 1111 1111 1111"]);
    expect(find("4111-1111-1111-1111")).toEqual(["4111-1111-1111-1111"]);
    expect(find("mc 5555555555554444, amex 378282246310005")).toEqual([
      "5555555555554444",
      "378282246310005",
    ]);
    expect(find("6011111111111117")).toEqual(["6011111111111117"]);
    expect(find("mc2 2223003122003222")).toEqual(["2223003122003222"]);
  });

  it("separates the card from an expiry or other digits that follow", () => {
    expect(find("4111111111111111-12/25")).toEqual(["4111111111111111"]);
    expect(find("4111 1111 1111 1111 2025")).toEqual(["4111 1111 1111 1111"]);
    expect(find("99 4111 1111 1111 1111")).toEqual(["4111 1111 1111 1111"]);
  });

  it("reports every reading of an ambiguous digit run, so none stays visible", () => {
    // "60 4938 7162 0336" is itself a Luhn-valid 14-digit number that starts like a card
    expect(find("60 4938 7162 0336 0003")).toEqual(["60 4938 7162 0336", "4938 7162 0336 0003"]);
  });

  it("rejects Luhn failures, non-card prefixes, too short and too long runs", () => {
    for (const text of [
      "4111111111111112",
      "1700000000000", // epoch milliseconds
      "1234567812345670", // Luhn-valid but starts with 1
      "9999999999999995",
      "411111111111", // 12 digits
      "4111111111111111111111", // 22 digits, no separators
      "4111  1111  1111  1111", // double spaces
      "order 0000000000000000",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("validates Luhn and issuer prefixes", () => {
    expect(luhnValid("79927398713")).toBe(true);
    expect(luhnValid("79927398710")).toBe(false);
    expect(issuerValid("2200123412341234")).toBe(true);
    expect(issuerValid("2100123412341234")).toBe(false);
    expect(issuerValid("3112341234123412")).toBe(false);
    expect(issuerValid("3412341234123412")).toBe(true);
  });
});
