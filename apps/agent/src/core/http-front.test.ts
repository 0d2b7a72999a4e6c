import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { callerToken, routeOf } from "./http-front";

const req = (url: string, headers: Record<string, string> = {}) =>
  ({ url, headers }) as unknown as IncomingMessage;

describe("native HTTP routing", () => {
  it("takes the connection from the first path segment and keeps the rest as the target", () => {
    expect(routeOf(req("/payments/v1/refunds?x=1"), undefined)).toEqual({
      connection: "payments",
      target: "/v1/refunds?x=1",
    });
    expect(routeOf(req("/payments"), undefined)).toEqual({ connection: "payments", target: "/" });
    expect(routeOf(req("/payments?x=1"), undefined)).toEqual({ connection: "payments", target: "/?x=1" });
    expect(routeOf(req("/payments/../admin"), undefined)).toEqual({
      connection: "payments",
      target: "/../admin",
    });
    expect(routeOf(req("/%2e%2e/x"), undefined)).toHaveProperty("error");
    expect(routeOf(req("http://evil/x"), undefined)).toHaveProperty("error");
  });

  it("routes by Host under the configured domain only", () => {
    const r = req("/v1/refunds", { host: "payments.api.example.com:8081" });
    expect(routeOf(r, "api.example.com")).toEqual({ connection: "payments", target: "/v1/refunds" });
    expect(routeOf(r, undefined)).toEqual({ connection: "v1", target: "/refunds" });
    expect(routeOf(req("/payments/x", { host: "a.b.api.example.com" }), "api.example.com")).toEqual({
      connection: "payments",
      target: "/x",
    });
  });

  it("reads the caller's token from Bearer or Basic, preferring Proxy-Authorization", () => {
    expect(callerToken(req("/", { authorization: "Bearer sk_abc" }))).toBe("sk_abc");
    expect(callerToken(req("/", { "proxy-authorization": "Bearer sk_p", authorization: "Bearer up" }))).toBe(
      "sk_p",
    );
    const basic = Buffer.from("ci:sk_basic").toString("base64");
    expect(callerToken(req("/", { authorization: `Basic ${basic}` }))).toBe("sk_basic");
    expect(callerToken(req("/", { authorization: "Token x" }))).toBeUndefined();
    expect(callerToken(req("/", {}))).toBeUndefined();
  });
});
