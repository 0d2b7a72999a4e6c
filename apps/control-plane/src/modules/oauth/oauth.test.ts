import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { clientCredentialsOf } from "./client-credentials";
import { acceptableRedirectUri, createClientRegistry } from "./clients";
import { authorizationServerMetadata, protectedResourceMetadata } from "./metadata";
import { validChallenge, verifierMatches } from "./pkce";

describe("MCP authorization server pieces", () => {
  it("carries a registration in a MAC'd client id and refuses forged ones", () => {
    const registry = createClientRegistry(randomBytes(32));
    const client = registry.register({ redirectUris: ["https://agent.example.com/cb"], name: "Agent" });
    expect(registry.lookup(client.clientId)).toEqual(client);
    const [payload] = client.clientId.slice(5).split(".");
    const altered = Buffer.from(JSON.stringify({ n: "Agent", r: ["https://evil.example/cb"] })).toString(
      "base64url",
    );
    expect(registry.lookup(client.clientId.replace(payload ?? "", altered))).toBeUndefined();
    expect(createClientRegistry(randomBytes(32)).lookup(client.clientId)).toBeUndefined();
    expect(registry.lookup("mcpc_x")).toBeUndefined();
    expect(() => registry.register({ redirectUris: [], name: "x" })).toThrow(/redirect_uris/);
    expect(() => registry.register({ redirectUris: ["http://evil.example/cb"], name: "x" })).toThrow();
  });

  it("accepts https and loopback http redirect URIs only", () => {
    expect(acceptableRedirectUri("https://a.example/cb")).toBe(true);
    expect(acceptableRedirectUri("http://127.0.0.1:3000/cb")).toBe(true);
    expect(acceptableRedirectUri("http://localhost/cb")).toBe(true);
    for (const bad of [
      "http://a.example/cb",
      "https://a.example/cb#x",
      "javascript:alert(1)",
      "https://u:p@a/",
    ]) {
      expect(acceptableRedirectUri(bad), bad).toBe(false);
    }
    expect(acceptableRedirectUri(`https://a.example/${"x".repeat(600)}`)).toBe(false);
  });

  it("checks S256 verifiers only", () => {
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    expect(validChallenge(challenge)).toBe(true);
    expect(verifierMatches(verifier, challenge)).toBe(true);
    expect(verifierMatches(verifier, verifier.slice(0, 43))).toBe(false);
    expect(verifierMatches("short", challenge)).toBe(false);
    expect(validChallenge("plain-challenge")).toBe(false);
  });

  it("reads client authentication from Basic (form-encoded) or the body", () => {
    const basic = `Basic ${Buffer.from("report%20bot:slk_a%3Ab").toString("base64")}`;
    expect(clientCredentialsOf(basic, {})).toEqual({ clientId: "report bot", clientSecret: "slk_a:b" });
    expect(clientCredentialsOf(undefined, { client_id: "a", client_secret: "b" })).toEqual({
      clientId: "a",
      clientSecret: "b",
    });
    expect(() => clientCredentialsOf(`Basic ${Buffer.from("nocolon").toString("base64")}`, {})).toThrow();
  });

  it("names the CP as the MCP resource's authorization server", () => {
    expect(protectedResourceMetadata("https://cp.example")).toMatchObject({
      resource: "https://cp.example/mcp",
      authorization_servers: ["https://cp.example"],
    });
    expect(authorizationServerMetadata("https://cp.example").code_challenge_methods_supported).toEqual([
      "S256",
    ]);
  });
});
