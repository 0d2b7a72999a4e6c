import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { jwtDetector, jwtHeaderValid } from "./jwt";

const find = (text: string) => detect(jwtDetector, text);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const jwt = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "1234567890", name: "Ada" })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;

describe("JWT detector", () => {
  it("finds signed tokens, unsigned tokens and JWE", () => {
    expect(find(`Authorization: Bearer ${jwt}`)).toEqual([jwt]);
    const none = `${b64({ alg: "none" })}.${b64({ sub: "1" })}.`;
    expect(find(`token=${none}&x=1`)).toEqual([none]);
    const jwe = `${b64({ alg: "RSA-OAEP", enc: "A256GCM" })}.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ`;
    expect(find(jwe)).toEqual([jwe]);
  });

  it("rejects base64 without a JSON header carrying alg", () => {
    for (const text of [
      `${b64({ not: "a jwt" })}.${b64({ sub: "1" })}.sig`,
      b64({ alg: "HS256" }),
      "eyJxxxx.yyyy.zzzz",
      "eyJ.a.b",
      `x${jwt}`,
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });

  it("decodes headers", () => {
    expect(jwtHeaderValid(b64({ alg: "ES256" }))).toBe(true);
    expect(jwtHeaderValid(b64({ alg: 1 }))).toBe(false);
    expect(jwtHeaderValid(b64([1, 2]))).toBe(false);
    expect(jwtHeaderValid("!!!")).toBe(false);
  });
});
