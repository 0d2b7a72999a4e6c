import { describe, expect, it } from "vitest";
import { detect } from "../masking.testing";
import { apiKeyDetector } from "./api-key";

const find = (text: string) => detect(apiKeyDetector, text);
const alnum = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7";

describe("API key detector", () => {
  it("finds cloud, code-hosting, chat, payment and AI keys", () => {
    const keys = [
      "AKIAIOSFODNN7EXAMPLE",
      "ASIAY34FZKBOKMUTVV7A",
      `ghp_${alnum.slice(0, 36)}`,
      `gho_${alnum.slice(0, 36)}`,
      `ghs_${alnum.slice(0, 36)}`,
      "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
      "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
      "xoxp-123456789012-abcdefgh",
      `sk_live_${alnum.slice(0, 24)}`,
      `rk_live_${alnum.slice(0, 24)}`,
      "AIzaSyA-1234567890abcdefghijklmnopqrstu",
      `sk-${alnum.slice(0, 48)}`,
      `sk-proj-${alnum}_${alnum}`,
    ];
    for (const key of keys) expect(find(`key="${key}";`), key).toEqual([key]);
  });

  it("finds whole PEM private key blocks, also when the END line is missing", () => {
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75\nq0x9=\n-----END RSA PRIVATE KEY-----";
    expect(find(`cfg: ${pem}\nother: 1`)).toEqual([pem]);
    const openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n";
    expect(find(openssh)).toEqual([openssh]);
    const jsonEscaped =
      '{"key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"}';
    expect(find(jsonEscaped)).toEqual([
      "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----",
    ]);
  });

  it("leaves look-alikes alone", () => {
    for (const text of [
      "AKIAIOSFODNN7EXAMPL",
      "AKIAIOSFODNN7EXAMPLEX",
      "ask-me-anything-about-the-long-title",
      "sk-this-is-a-long-article-slug-here",
      "ghp_short",
      "xoxz-123456789012-abc",
      "sk_test_aB3dE5gH7jK9mN1pQ3sT5vW7",
      "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
      "-----BEGIN CERTIFICATE-----",
    ]) {
      expect(find(text), text).toEqual([]);
    }
  });
});
