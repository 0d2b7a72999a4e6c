import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  ed25519Blob,
  FOREVER,
  formatCertificate,
  parseCertificate,
  parseCertificateLine,
  signCertificate,
  userCertificateProblem,
} from "./certificate";
import { generateEd25519KeyPair, openSshPrivateKey } from "./private-key";
import { keyFingerprint, parseAuthorizedKey } from "./public-key";
import { SshFormatError } from "./wire";

const dir = mkdtempSync(join(tmpdir(), "sluice-ssh-cert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fixed Ed25519 key from a 32-byte seed (PKCS#8 DER prefix for Ed25519). */
function fixedKey(byte: number) {
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.alloc(32, byte)]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function keygen(name: string, type: string, bits?: number): { file: string; line: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    name,
    "-f",
    file,
  ]);
  return { file, line: readFileSync(`${file}.pub`, "utf8").trim() };
}

/** `ssh-keygen -L` on a certificate line. */
function describeWithOpenSsh(line: string): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}-cert.pub`);
  writeFileSync(file, `${line}\n`);
  return execFileSync("ssh-keygen", ["-L", "-f", file], { encoding: "utf8" });
}

const ca = fixedKey(7);
const subject = fixedKey(9);
const spec = {
  key: ed25519Blob(subject),
  serial: 42n,
  type: "user" as const,
  keyId: "sluice user=6f1c3c0e-5a43-4a4e-9d55-0c7b8b1f2e3d",
  principals: ["alice"],
  validAfter: 1_700_000_000n,
  validBefore: 1_700_003_600n,
  extensions: ["permit-pty", "permit-agent-forwarding", "permit-port-forwarding"],
};

describe("OpenSSH certificates", () => {
  it("encodes a certificate byte for byte (fixed CA, key and nonce)", () => {
    const blob = signCertificate(spec, ca, Buffer.alloc(32, 0x11));
    // The type, the nonce, the subject key, then serial 42 and role 1 (user).
    expect(blob.subarray(0, 36).toString("hex")).toBe(
      `00000020${Buffer.from("ssh-ed25519-cert-v01@openssh.com").toString("hex")}`,
    );
    expect(blob.subarray(36, 72).toString("hex")).toBe(`00000020${"11".repeat(32)}`);
    expect(blob.subarray(108, 120).toString("hex")).toBe("000000000000002a00000001");
    // Ed25519 signatures are deterministic, so the whole blob is too.
    expect(blob.toString("base64")).toBe(FIXTURE);
  });

  it("writes certificates that OpenSSH reads as we meant them", () => {
    const out = describeWithOpenSsh(formatCertificate(parseCertificate(Buffer.from(FIXTURE, "base64"))));
    expect(out).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(out).toContain(`Public key: ED25519-CERT ${keyFingerprint(ed25519Blob(subject))}`);
    expect(out).toContain(`Signing CA: ED25519 ${keyFingerprint(ed25519Blob(ca))}`);
    expect(out).toContain(`Key ID: "${spec.keyId}"`);
    expect(out).toContain("Serial: 42");
    expect(out).toMatch(/Valid: from 2023-11-1\dT\d\d:13:20 to 2023-11-1\dT\d\d:13:20/);
    expect(out).toMatch(/Principals: \n\s+alice\n/);
    expect(out).toMatch(/Critical Options: \(none\)/);
    expect(out).toMatch(
      /Extensions: \n\s+permit-agent-forwarding\n\s+permit-port-forwarding\n\s+permit-pty\n/,
    );
  });

  it("round-trips its own certificates with critical options and forever validity", () => {
    const blob = signCertificate(
      {
        ...spec,
        validBefore: FOREVER,
        criticalOptions: { "force-command": "uptime", "source-address": "127.0.0.1/32" },
      },
      ca,
    );
    const cert = parseCertificate(blob);
    expect(cert.criticalOptions).toEqual({ "force-command": "uptime", "source-address": "127.0.0.1/32" });
    expect(cert.validBefore).toBe(FOREVER);
    const out = describeWithOpenSsh(formatCertificate(cert));
    expect(out).toContain("Valid: after 2023-11-1");
    expect(out).toContain("force-command uptime");
    expect(out).toContain("source-address 127.0.0.1/32");
  });

  it.each([
    ["ed25519", undefined],
    ["ecdsa", 256],
    ["ecdsa", 384],
    ["ecdsa", 521],
    ["rsa", 2048],
  ])("reads and verifies certificates ssh-keygen signs with a %s %s CA", (type, bits) => {
    const caKey = keygen(`ca-${type}-${bits ?? ""}`, type, bits);
    const user = keygen(`user-${type}-${bits ?? ""}`, "ed25519");
    execFileSync("ssh-keygen", [
      "-q",
      "-s",
      caKey.file,
      "-I",
      "kid-1",
      "-n",
      "alice,bob",
      "-V",
      "-5m:+1h",
      "-z",
      "77",
      `${user.file}.pub`,
    ]);
    const cert = parseCertificateLine(readFileSync(`${user.file}-cert.pub`, "utf8"));
    expect(cert.keyId).toBe("kid-1");
    expect(cert.serial).toBe(77n);
    expect(cert.principals).toEqual(["alice", "bob"]);
    expect(cert.key.equals(parseAuthorizedKey(user.line).blob)).toBe(true);
    expect(cert.extensions).toContain("permit-pty");
    const trusted = parseAuthorizedKey(caKey.line).blob;
    const now = BigInt(Math.floor(Date.now() / 1000));
    expect(userCertificateProblem(cert, { trustedCas: [trusted], principal: "bob", now })).toBeUndefined();
    expect(userCertificateProblem(cert, { trustedCas: [trusted], principal: "carol", now })).toBe(
      "principal not listed",
    );
    expect(userCertificateProblem(cert, { trustedCas: [trusted], principal: "bob", now: now + 7200n })).toBe(
      "expired",
    );
    expect(userCertificateProblem(cert, { trustedCas: [trusted], principal: "bob", now: now - 3600n })).toBe(
      "not yet valid",
    );
    expect(userCertificateProblem(cert, { trustedCas: [ed25519Blob(ca)], principal: "bob", now })).toBe(
      "not signed by a trusted CA",
    );
  });

  it("refuses a certificate whose signed part was altered", () => {
    const blob = Buffer.from(FIXTURE, "base64");
    const principalAt = blob.indexOf(Buffer.from("alice"));
    const forged = Buffer.from(blob);
    forged.write("mallo", principalAt);
    const cert = parseCertificate(forged);
    expect(cert.principals).toEqual(["mallo"]);
    const check = { trustedCas: [ed25519Blob(ca)], principal: "mallo", now: 1_700_000_100n };
    expect(userCertificateProblem(cert, check)).toBe("bad CA signature");
    expect(userCertificateProblem(parseCertificate(blob), { ...check, principal: "alice" })).toBeUndefined();
  });

  it("refuses a host certificate and unknown critical options", () => {
    const check = { trustedCas: [ed25519Blob(ca)], principal: "alice", now: 1_700_000_100n };
    expect(
      userCertificateProblem(parseCertificate(signCertificate({ ...spec, type: "host" }, ca)), check),
    ).toBe("not a user certificate");
    const forced = signCertificate({ ...spec, criticalOptions: { "force-command": "id" } }, ca);
    expect(userCertificateProblem(parseCertificate(forced), check)).toBe("unsupported critical option");
  });

  it("fails cleanly on truncated, oversized and random input", () => {
    const blob = Buffer.from(FIXTURE, "base64");
    for (let cut = 0; cut < blob.length; cut += 7) {
      expect(() => parseCertificate(blob.subarray(0, cut))).toThrow(SshFormatError);
    }
    expect(() => parseCertificate(Buffer.concat([blob, Buffer.from([0])]))).toThrow(/unexpected bytes/);
    expect(() => parseCertificate(Buffer.alloc(20_000))).toThrow(/too large/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(blob.length), (noise, at) => {
        const mixed = Buffer.concat([blob.subarray(0, at), Buffer.from(noise)]);
        try {
          parseCertificate(mixed);
        } catch (err) {
          expect(err).toBeInstanceOf(SshFormatError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("public keys", () => {
  it.each([
    ["ed25519", undefined],
    ["ecdsa", 256],
    ["ecdsa", 521],
    ["rsa", 2048],
  ])("parses an authorized_keys line from ssh-keygen (%s %s) with its fingerprint", (type, bits) => {
    const k = keygen(`pk-${type}-${bits ?? ""}`, type, bits);
    const parsed = parseAuthorizedKey(k.line);
    const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${k.file}.pub`], {
      encoding: "utf8",
    });
    expect(keyFingerprint(parsed.blob)).toBe(fp.split(/\s+/)[1]);
    expect(parsed.comment).toBe(`pk-${type}-${bits ?? ""}`);
  });

  it("refuses weak, unsupported or malformed keys with a reason", () => {
    const rsa1024 = keygen("weak", "rsa", 1024);
    expect(() => parseAuthorizedKey(rsa1024.line)).toThrow(/at least 2048 bits/);
    expect(() => parseAuthorizedKey("ssh-dss AAAAB3NzaC1kc3M= x")).toThrow(/unsupported key type/);
    expect(() => parseAuthorizedKey("sk-ssh-ed25519@openssh.com AAAA x")).toThrow(/security-key/);
    expect(() => parseAuthorizedKey('command="id" ssh-ed25519 AAAA x')).toThrow(/options/);
    expect(() => parseAuthorizedKey("ssh-ed25519 !!!")).toThrow(/base64/);
    const ed = parseAuthorizedKey(keygen("ed", "ed25519").line);
    expect(() => parseAuthorizedKey(`ssh-rsa ${ed.blob.toString("base64")}`)).toThrow(/not ssh-rsa/);
    expect(() => parseAuthorizedKey(`ssh-ed25519 ${ed.blob.toString("base64")} a\u0007b`)).toThrow(/control/);
  });

  it("writes Ed25519 private keys OpenSSH loads", () => {
    const pair = generateEd25519KeyPair("sluice test");
    const file = join(dir, "generated");
    writeFileSync(file, pair.privateKey, { mode: 0o600 });
    const derived = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
    expect(pair.publicKey.startsWith(derived)).toBe(true);
    expect(openSshPrivateKey(generateKeyPairSync("ed25519").privateKey, "x")).toMatch(
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n/,
    );
  });
});

const FIXTURE = [
  "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIBERERERERERERERERERERERERERERERERERER",
  "ERERERAAAAIP0XJDhaoMdbZPt4zWAvodmR/ev3axPFjtcC6sg16fYYAAAAAAAAACoAAAABAAAAMHNsdWljZSB1c2Vy",
  "PTZmMWMzYzBlLTVhNDMtNGE0ZS05ZDU1LTBjN2I4YjFmMmUzZAAAAAkAAAAFYWxpY2UAAAAAZVPxAAAAAABlU/8QAA",
  "AAAAAAAE8AAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAA",
  "AAAACnBlcm1pdC1wdHkAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAg6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vn",
  "uSQh7qaRRG0iwAAABTAAAAC3NzaC1lZDI1NTE5AAAAQATgIAmbclRmJ6E9kVS3i9lR1ldX9ruR7pwIQEVa8Yz8JVFn",
  "bQNT6QB0woSpsunrmVNk4GYkJ9w8TV1MCF9ASwQ=",
].join("");
