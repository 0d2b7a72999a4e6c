import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { createDb } from "@sluice/db";
import {
  AgentServiceClient,
  type AuthorizeSessionRequest,
  type AuthorizeSessionResponse,
} from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import { createSshAuth } from "./ssh-auth";
import { createSshCa } from "./ssh-ca";

let cp: TestControlPlane;
let client: AgentServiceClient;
const dir = mkdtempSync(join(tmpdir(), "sluice-ssh-cp-"));
const users: Record<string, { id: string; key: string }> = {};

function keygen(name: string, type = "ed25519"): { file: string; line: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@laptop`, "-f", file]);
  return { file, line: readFileSync(`${file}.pub`, "utf8").trim() };
}

async function user(name: string, role = "user", groups: string[] = ["ops"]) {
  const u = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name, email: `${name}@example.com`, role, groups },
  });
  const key = (await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } }))
    .body;
  users[name] = { id: u.body.id, key: key.secret };
  return users[name];
}

function md(token: string) {
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

let agentToken = "";
function authorize(req: Partial<AuthorizeSessionRequest>): Promise<AuthorizeSessionResponse> {
  const full = {
    credential: "",
    connectionName: "web",
    clientAddress: "127.0.0.1",
    protocol: "ssh",
    sshPublicKey: "",
    sshCertificate: "",
    count: 0,
    ...req,
  };
  return new Promise((resolve, reject) =>
    client.authorizeSession(full, md(agentToken), (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const keyOf = (name: string) => users[name]?.key ?? "";

beforeAll(async () => {
  cp = await startTestControlPlane();
  client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "ops" } });
  await user("alice");
  await user("bob");
  await user("audra", "auditor", []);
  await cp.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "web",
      type: "ssh",
      host: "127.0.0.1",
      port: 22,
      username: "deploy",
      credentialRef: "env:WEB_PW",
      allowedGroups: ["ops"],
    },
  });
  agentToken = (await cp.api("/api/v1/agents", { method: "POST", body: { name: "edge" } })).body
    .enrollmentToken;
  const link = client.link(md(agentToken));
  link.on("error", () => undefined);
  link.on("data", () => undefined);
  link.write({
    body: {
      $case: "hello",
      value: {
        agentVersion: "t",
        capabilities: [],
        endpoints: [{ protocol: "ssh", host: "127.0.0.1", port: 2222 }],
        resumeVersion: 0,
      },
    },
  });
  await eventually(async () => (await cp.api("/api/v1/agents/edge")).body.status === "online");
}, 60_000);

afterAll(async () => {
  client?.close();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("SSH public keys", () => {
  it("lets a user add, list and remove their own keys, and nobody else's", async () => {
    const k = keygen("alice-1");
    const added = await cp.api("/api/v1/ssh-keys", {
      method: "POST",
      key: keyOf("alice"),
      body: { name: "laptop", publicKey: k.line },
    });
    expect(added.status, added.text).toBe(201);
    const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${k.file}.pub`], {
      encoding: "utf8",
    });
    expect(added.body).toMatchObject({
      name: "laptop",
      type: "ssh-ed25519",
      fingerprint: fp.split(/\s+/)[1],
    });
    expect(added.body.publicKey).toBe(k.line);

    const mine = await cp.api("/api/v1/ssh-keys", { key: keyOf("alice") });
    expect(mine.body.items.map((i: { id: string }) => i.id)).toEqual([added.body.id]);
    expect((await cp.api("/api/v1/ssh-keys", { key: keyOf("bob") })).body.items).toEqual([]);
    // Another user can neither list nor remove it, and learns nothing about who exists.
    expect((await cp.api(`/api/v1/ssh-keys?user=${users.alice?.id}`, { key: keyOf("bob") })).status).toBe(
      404,
    );
    const bobDelete = await cp.api(`/api/v1/ssh-keys/${added.body.id}`, {
      method: "DELETE",
      key: keyOf("bob"),
    });
    expect(bobDelete.status).toBe(404);
    expect(bobDelete.body.error.code).toBe("ssh_key.not_found");
    // Auditors read, admins read and remove.
    const audited = await cp.api(`/api/v1/ssh-keys?user=${users.alice?.id}`, { key: keyOf("audra") });
    expect(audited.body.items).toHaveLength(1);
    expect(
      (await cp.api(`/api/v1/ssh-keys/${added.body.id}`, { method: "DELETE", key: keyOf("audra") })).status,
    ).toBe(404);
    expect((await cp.api(`/api/v1/ssh-keys?user=alice@example.com`)).body.items).toHaveLength(1);
    expect((await cp.api(`/api/v1/ssh-keys/${added.body.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await cp.api("/api/v1/ssh-keys", { key: keyOf("alice") })).body.items).toEqual([]);

    const removal = await cp.api("/api/v1/audit?action=ssh_key.remove");
    expect(JSON.stringify(removal.body)).toContain(added.body.id);
  });

  it("removes a key by fingerprint and refuses duplicates and bad keys with a reason", async () => {
    const k = keygen("bob-1", "ecdsa");
    const body = { name: "work", publicKey: k.line };
    const first = await cp.api("/api/v1/ssh-keys", { method: "POST", key: keyOf("bob"), body });
    expect(first.status, first.text).toBe(201);
    const again = await cp.api("/api/v1/ssh-keys", { method: "POST", key: keyOf("alice"), body });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("already registered");
    const sameName = await cp.api("/api/v1/ssh-keys", {
      method: "POST",
      key: keyOf("bob"),
      body: { name: "work", publicKey: keygen("bob-2").line },
    });
    expect(sameName.status).toBe(409);
    const bad = await cp.api("/api/v1/ssh-keys", {
      method: "POST",
      key: keyOf("bob"),
      body: { name: "x", publicKey: "ssh-dss AAAAB3NzaC1kc3M=" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/unsupported key type/);
    const huge = await cp.api("/api/v1/ssh-keys", {
      method: "POST",
      key: keyOf("bob"),
      body: { name: "x".repeat(101), publicKey: k.line },
    });
    expect(huge.status).toBe(400);
    const gone = await cp.api(`/api/v1/ssh-keys/${encodeURIComponent(first.body.fingerprint)}`, {
      method: "DELETE",
      key: keyOf("bob"),
    });
    expect(gone.status).toBe(204);
  });

  it("authorizes an SSH session by a registered key, and refuses an unknown one like a bad password", async () => {
    const k = keygen("alice-2");
    await cp.api("/api/v1/ssh-keys", {
      method: "POST",
      key: keyOf("alice"),
      body: { name: "k2", publicKey: k.line },
    });
    const res = await authorize({ sshPublicKey: k.line.split(" ").slice(0, 2).join(" ") });
    expect(decodeJwt(res.grant)).toMatchObject({ sub: users.alice?.id, cname: "web", proto: "ssh" });
    const session = await cp.api(`/api/v1/sessions/${res.sessionId}`);
    expect(session.body.user.name).toBe("alice");

    const unknown = await authorize({ sshPublicKey: keygen("stranger").line }).catch((e) => e);
    const badPassword = await authorize({ credential: "slk_nothing_valid" }).catch((e) => e);
    expect(unknown.code).toBe(status.UNAUTHENTICATED);
    expect(unknown.details).toBe(badPassword.details);
    expect(cp.logs()).toContain("unregistered public key");
    // A key is for ssh sessions only, and only one credential at a time.
    const pg = await authorize({ sshPublicKey: k.line, protocol: "postgres" }).catch((e) => e);
    expect(pg.code).toBe(status.INVALID_ARGUMENT);
    const both = await authorize({ sshPublicKey: k.line, credential: keyOf("alice") }).catch((e) => e);
    expect(both.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe("SSH certificates", () => {
  it("signs a short-lived user certificate OpenSSH reads: principal = name, key id = user", async () => {
    const k = keygen("alice-cert");
    const res = await cp.api("/api/v1/ssh-certificates", {
      method: "POST",
      key: keyOf("alice"),
      body: { publicKey: k.line },
    });
    expect(res.status, res.text).toBe(201);
    writeFileSync(`${k.file}-cert.pub`, `${res.body.certificate}\n`);
    const out = execFileSync("ssh-keygen", ["-L", "-f", `${k.file}-cert.pub`], { encoding: "utf8" });
    expect(out).toContain("user certificate");
    expect(out).toContain(`Key ID: "sluice user=${users.alice?.id} via=api_key`);
    expect(out).toMatch(/Principals: \n\s+alice\n\s+Critical Options: \(none\)/);
    expect(out).toMatch(/Extensions: \n\s+permit-port-forwarding\n\s+permit-pty\n$/);
    const ca = await cp.api("/api/v1/ssh-ca", { key: keyOf("bob") });
    expect(out).toContain(`Signing CA: ED25519 ${ca.body.fingerprint}`);
    expect(ca.body.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ sluice-ssh-ca$/);
    const lifetime = Date.parse(res.body.validBefore) - Date.parse(res.body.validAfter);
    expect(lifetime).toBe((3600 + 60) * 1000);

    const granted = await authorize({ sshCertificate: res.body.certificate });
    expect(decodeJwt(granted.grant)).toMatchObject({ sub: users.alice?.id });
  });

  it("rotates the CA: new certificates come from the new key, earlier ones work until they expire", async () => {
    const k = keygen("dave-cert");
    const dave = await user("dave");
    const sign = async () =>
      (
        await cp.api("/api/v1/ssh-certificates", {
          method: "POST",
          key: dave.key,
          body: { publicKey: k.line },
        })
      ).body.certificate as string;
    const before = (await cp.api("/api/v1/ssh-ca", { key: dave.key })).body;
    const oldCert = await sign();

    expect((await cp.api("/api/v1/ssh-ca/rotate", { method: "POST", key: dave.key })).status).toBe(403);
    const rotated = await cp.api("/api/v1/ssh-ca/rotate", { method: "POST" });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.fingerprint).not.toBe(before.fingerprint);
    expect((await cp.api("/api/v1/ssh-ca", { key: dave.key })).body).toEqual(rotated.body);

    const newCert = await sign();
    writeFileSync(`${k.file}-cert.pub`, `${newCert}\n`);
    const out = execFileSync("ssh-keygen", ["-L", "-f", `${k.file}-cert.pub`], { encoding: "utf8" });
    expect(out).toContain(`Signing CA: ED25519 ${rotated.body.fingerprint}`);
    await expect(authorize({ sshCertificate: oldCert })).resolves.toMatchObject({
      grant: expect.any(String),
    });
    await expect(authorize({ sshCertificate: newCert })).resolves.toMatchObject({
      grant: expect.any(String),
    });
    const audit = await cp.api("/api/v1/audit?action=ssh_ca.rotate");
    expect(audit.body.items).toHaveLength(1);
  });

  it("bounds the validity and refuses keys it cannot sign", async () => {
    const k = keygen("bob-cert");
    const long = await cp.api("/api/v1/ssh-certificates", {
      method: "POST",
      key: keyOf("bob"),
      body: { publicKey: k.line, validitySeconds: 12 * 3600 + 1 },
    });
    expect(long.status).toBe(400);
    const max = await cp.api("/api/v1/ssh-certificates", {
      method: "POST",
      key: keyOf("bob"),
      body: { publicKey: k.line, validitySeconds: 12 * 3600 },
    });
    expect(max.status).toBe(201);
    const bad = await cp.api("/api/v1/ssh-certificates", {
      method: "POST",
      key: keyOf("bob"),
      body: { publicKey: "ssh-ed25519 AAAA" },
    });
    expect(bad.status).toBe(400);
  });

  it("refuses certificates that are expired, from another CA, or whose credential was revoked", async () => {
    const k = keygen("carol-cert");
    const carol = await user("carol");
    const signed = (
      await cp.api("/api/v1/ssh-certificates", {
        method: "POST",
        key: carol.key,
        body: { publicKey: k.line },
      })
    ).body.certificate as string;

    // The control plane's own checks, run at a later and an earlier time.
    const db = createDb(cp.db.url);
    try {
      const ca = createSshCa({ prisma: db.prisma, masterKey: Buffer.alloc(32) });
      const at = (offsetMs: number) =>
        createSshAuth({ prisma: db.prisma, ca, now: () => new Date(Date.now() + offsetMs) });
      await expect(at(2 * 3600_000).certificate(signed)).rejects.toMatchObject({
        code: "auth.invalid_credentials",
      });
      await expect(at(-3600_000).certificate(signed)).rejects.toMatchObject({
        code: "auth.invalid_credentials",
      });
      await expect(at(0).certificate(signed)).resolves.toMatchObject({
        name: "carol",
        via: "ssh_certificate",
      });
    } finally {
      await db.close();
    }

    // Same key, same key id, same principal, but signed by a CA Sluice does not know.
    const foreignCa = keygen("foreign-ca");
    execFileSync("ssh-keygen", [
      "-q",
      "-s",
      foreignCa.file,
      "-I",
      `sluice user=${carol.id} via=api_key cred=${carol.id}`,
      "-n",
      "carol",
      "-V",
      "-5m:+1h",
      `${k.file}.pub`,
    ]);
    const foreign = readFileSync(`${k.file}-cert.pub`, "utf8").trim();
    const refused = await authorize({ sshCertificate: foreign }).catch((e) => e);
    expect(refused.code).toBe(status.UNAUTHENTICATED);
    expect(cp.logs()).toContain("not signed by a trusted CA");

    // Revoking the API key that asked for the certificate retires the certificate too.
    const keys = await cp.api(`/api/v1/users/${carol.id}/api-keys`);
    await cp.api(`/api/v1/users/${carol.id}/api-keys/${keys.body.items[0].id}`, { method: "DELETE" });
    const afterRevoke = await authorize({ sshCertificate: signed }).catch((e) => e);
    expect(afterRevoke.code).toBe(status.UNAUTHENTICATED);
  });
});
