import { describe, expect, it } from "vitest";
import { hasDuplicateKeys } from "./json-keys";

describe("duplicate JSON keys", () => {
  it("finds a key repeated in one object, decoded, at any depth", () => {
    expect(hasDuplicateKeys('{"amount":1,"amount":5000}')).toBe(true);
    expect(hasDuplicateKeys('{"amount":1,"\\u0061mount":5000}')).toBe(true);
    expect(hasDuplicateKeys('{"a":{"b":1,"b":2}}')).toBe(true);
    expect(hasDuplicateKeys('[{"a":1},{"a":2}]')).toBe(false);
    expect(hasDuplicateKeys('{"a":"a","b":["a","a"],"c":{"a":1}}')).toBe(false);
    expect(hasDuplicateKeys('{"a\\"b":1,"a":2}')).toBe(false);
  });
});
