import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { emailDetector } from "./email";

const find = (text: string) => detect(emailDetector, text);

describe("email detector", () => {
  it("finds addresses in running text, JSON and arrays", () => {
    expect(find("john.doe@example.com")).toEqual(["john.doe@example.com"]);
    expect(find("write to a_b+tag@sub.mail.co.uk. thanks")).toEqual(["a_b+tag@sub.mail.co.uk"]);
    expect(find("<Mixed@Case.COM>")).toEqual(["Mixed@Case.COM"]);
    expect(find('{"email":"jane@corp.example","n":1}')).toEqual(["jane@corp.example"]);
    expect(find("{a@b.com,c@d.org}")).toEqual(["a@b.com", "c@d.org"]);
    expect(find("mailto:x@y.io")).toEqual(["x@y.io"]);
  });

  it("leaves handles, hosts without a TLD and other uses of '@' alone", () => {
    for (const text of [
      "@handle",
      "user@localhost",
      "a@b",
      "5@3 per unit",
      "foo@bar.c",
      "no at sign at all",
      "x@-bad.com",
      "@@@",
      "price@100.00",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("never treats leading dots as part of the address", () => {
    expect(find("...john@example.com")).toEqual(["john@example.com"]);
  });

  it("stays fast on adversarial input (long local parts, many '@')", () => {
    const text = `${"a".repeat(200_000)}@${"@b".repeat(50_000)}`;
    expect(find(text)).toEqual([]);
  });
});
