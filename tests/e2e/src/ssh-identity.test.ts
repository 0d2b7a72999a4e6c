import { execFile, execFileSync } from "node:child_process";
import { createDecipheriv, createHash, createPrivateKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSshPrivateKey } from "@sluice/ssh-proxy/keys";
import { eventually, type RunningSshd, startSshd } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

// Each CLI run starts a Node process (and `sluice ssh` two): allow for a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

const CANARY = `ssh-id-canary-${Date.now().toString(36)}`;
const USER = "sluiceid";
const cliPath = join(repoRoot, "apps/cli/bin/sluice.js");
const work = mkdtempSync(join(tmpdir(), "sluice-ssh-id-"));
const knownHosts = join(work, "known_hosts");
const cliConfig = join(work, "cli");
let sshd: RunningSshd;
let stack: Stack;
let agent: AgentProcess;
let sshPort = 0;
let devKey = "";
let devId = "";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const cliEnv = () => ({
  ...process.env,
  SLUICE_URL: stack.cp.apiUrl,
  SLUICE_API_KEY: devKey,
  SLUICE_CONFIG_DIR: cliConfig,
  SSH_AUTH_SOCK: "",
});

/** Runs a program without blocking the test process (the CLI spawns ssh, which spawns the CLI). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = cliEnv(), input = ""): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

const sluice = (args: string[], env?: NodeJS.ProcessEnv, input?: string) =>
  run(process.execPath, [cliPath, ...args], env, input);

/** OpenSSH straight to the agent's SSH listener, offering one identity and nothing else. */
function sshWithKey(identity: string, command: string, extra: string[] = []): Promise<Run> {
  return run("ssh", [
    ...["-F", "/dev/null", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes"],
    ...["-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey", "-o", "BatchMode=yes"],
    ...["-i", identity, ...extra, "-p", String(sshPort), "prod-web@127.0.0.1", command],
  ]);
}

function keygen(name: string): string {
  const file = join(work, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return file;
}

const events = (sid: string) => stack.closedSessionEvents(sid, 30_000);

/** The newest session of the dev user, once it is recorded as closed. */
async function latestSession(after: Set<string>): Promise<string> {
  return eventually(
    async () => {
      const list = await stack.api(`/api/v1/sessions?user=${devId}&limit=20`);
      return (list.body.items as { id: string }[]).find((s) => !after.has(s.id))?.id;
    },
    20_000,
    200,
  );
}

async function sessionIds(): Promise<Set<string>> {
  const list = await stack.api(`/api/v1/sessions?user=${devId}&limit=200`);
  return new Set((list.body.items as { id: string }[]).map((s) => s.id));
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** Signs a certificate with the control plane's own CA key, read from its database and unsealed. */
async function signWithSluiceCa(publicKeyFile: string, validFrom: number, validTo: number): Promise<string> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  const row = (await client.query('SELECT id, "privateKeyEnc" FROM ssh_ca_keys WHERE "retiredAt" IS NULL'))
    .rows[0];
  await client.end();
  const [, iv, tag, body] = String(row.privateKeyEnc).split(".");
  const decipher = createDecipheriv(
    "aes-256-gcm",
    Buffer.from(stack.cp.env.SLUICE_MASTER_KEY as string, "base64"),
    Buffer.from(iv as string, "base64url"),
  );
  decipher.setAAD(Buffer.from(`ssh-ca-key:${row.id}`));
  decipher.setAuthTag(Buffer.from(tag as string, "base64url"));
  const pem = Buffer.concat([
    decipher.update(Buffer.from(body as string, "base64url")),
    decipher.final(),
  ]).toString();
  // ssh-keygen signs with an OpenSSH key file, so the CA key is written in that format.
  const caFile = join(work, "sluice-ca");
  writeFileSync(caFile, openSshPrivateKey(createPrivateKey(pem), "ca"), { mode: 0o600 });
  execFileSync("ssh-keygen", [
    ...["-q", "-s", caFile, "-I", `sluice user=${devId} via=api_key cred=${await devKeyId()}`],
    ...["-n", "Ops", "-V", `${stamp(validFrom)}:${stamp(validTo)}`, `${publicKeyFile}.pub`],
  ]);
  return `${publicKeyFile}-cert.pub`;
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14);

async function devKeyId(): Promise<string> {
  return (await stack.api(`/api/v1/users/${devId}/api-keys`)).body.items[0].id;
}

beforeAll(async () => {
  sshd = await startSshd({ users: [{ name: USER, password: CANARY }] });
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "ops" } });
  const u = await stack.api("/api/v1/users", {
    method: "POST",
    body: { name: "Ops", email: "ops-id@example.com", groups: ["ops"] },
  });
  devId = u.body.id;
  devKey = (await stack.api(`/api/v1/users/${devId}/api-keys`, { method: "POST", body: { name: "k" } })).body
    .secret;
  const web = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "prod-web",
      type: "ssh",
      host: "127.0.0.1",
      port: sshd.port,
      username: USER,
      credentialRef: "env:WEB_SSH_PASSWORD",
      allowedGroups: ["ops"],
      ssh: { hostKey: sshd.hostKeyFingerprint },
    },
  });
  expect(web.status, web.text).toBe(201);
  const db = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-pg",
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "postgres",
      username: "postgres",
      credentialRef: "env:PG_PW",
      allowedGroups: ["ops"],
    },
  });
  expect(db.status, db.text).toBe(201);
  agent = await stack.startAgent("ssh-id-edge", {
    WEB_SSH_PASSWORD: CANARY,
    PG_PW: "unused",
    SLUICE_SSH_LISTEN: "127.0.0.1:0",
  });
  await agent.proc.waitForOutput(/ssh listener ready/);
  sshPort = agent.sshPort;
  const pub = agent.sshHostPublicKey();
  writeFileSync(knownHosts, `[127.0.0.1]:${sshPort} ${pub}\nsluice-agent ${pub}\n`);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await sshd?.stop();
});

describe("ssh keys and certificates on the agent's SSH listener", () => {
  it("logs in with a public key registered by sluice ssh-keys add", async () => {
    const key = keygen("laptop");
    const added = await sluice(["ssh-keys", "add", `${key}.pub`]);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/added SSH key laptop \(SHA256:/);
    const listed = await sluice(["ssh-keys", "list", "-o", "json"]);
    expect(JSON.parse(listed.stdout).items[0]).toMatchObject({ name: "laptop", type: "ssh-ed25519" });

    const before = await sessionIds();
    const r = await sshWithKey(key, "echo key-$((40+2)) from $(whoami)");
    expect(r.stdout, r.stderr).toBe(`key-42 from ${USER}\n`);
    expect(r.status).toBe(0);
    const ev = await events(await latestSession(before));
    expect(ev.find((e) => e.kind === "session.start")?.payload).toMatchObject({
      via: "publickey",
      identity: { name: "Ops" },
    });
  });

  it("logs in with a certificate from sluice ssh-cert (a key Sluice generated)", async () => {
    const cert = await sluice(["ssh-cert", "-o", "json"]);
    expect(cert.status, cert.stderr).toBe(0);
    const out = JSON.parse(cert.stdout);
    expect(out).toMatchObject({ created: true, principals: ["Ops"] });
    expect(out.certificateFile).toBe(join(cliConfig, "ssh", "id_ed25519-cert.pub"));
    expect(readFileSync(out.certificateFile, "utf8")).toMatch(/^ssh-ed25519-cert-v01@openssh.com /);
    const mode = execFileSync("stat", ["-c", "%a", join(cliConfig, "ssh", "id_ed25519")], {
      encoding: "utf8",
    });
    expect(mode.trim()).toBe("600");

    const before = await sessionIds();
    const r = await sshWithKey(join(cliConfig, "ssh", "id_ed25519"), "echo cert-ok; exit 5");
    expect(r.stdout, r.stderr).toBe("cert-ok\n");
    expect(r.status).toBe(5);
    const ev = await events(await latestSession(before));
    expect(ev.find((e) => e.kind === "session.start")?.payload.via).toBe("certificate");
    // A second run reuses the key and only renews the certificate.
    const again = await sluice(["ssh-cert", "-o", "json", "--validity", "30m"]);
    expect(JSON.parse(again.stdout).created).toBe(false);
  });

  it("keeps certificates working across a CA rotation by sluice ssh-ca rotate", async () => {
    const identity = join(cliConfig, "ssh", "id_ed25519");
    const before = (await sluice(["ssh-ca", "show", "-o", "json"])).stdout;
    const refused = await sluice(["ssh-ca", "rotate"]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/admin|forbidden|not allowed/i);
    const rotated = await sluice(["ssh-ca", "rotate"], { ...cliEnv(), SLUICE_API_KEY: stack.adminKey });
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/^ssh-ed25519 AAAA\S+ sluice-ssh-ca\n$/);
    expect(JSON.parse(before).publicKey).not.toBe(rotated.stdout.trim());
    // the certificate from before the rotation still logs in
    expect((await sshWithKey(identity, "echo old-ca")).stdout).toBe("old-ca\n");
    const renewed = await sluice(["ssh-cert", "-o", "json"]);
    const fingerprint = JSON.parse((await sluice(["ssh-ca", "show", "-o", "json"])).stdout).fingerprint;
    expect(JSON.parse(renewed.stdout).caFingerprint).toBe(fingerprint);
    expect((await sshWithKey(identity, "echo new-ca")).stdout).toBe("new-ca\n");
  });

  it("refuses a key nobody registered", async () => {
    const r = await sshWithKey(keygen("stranger"), "true");
    expect(r.status).toBe(255);
    expect(r.stderr).toContain("Permission denied");
    expect(stack.cp.proc.output()).toContain("unregistered public key");
  });

  it("refuses an expired Sluice certificate and one from a foreign CA", async () => {
    const expiredKey = keygen("expired");
    await signWithSluiceCa(expiredKey, Date.now() - 3 * 3600_000, Date.now() - 3600_000);
    const expired = await sshWithKey(expiredKey, "true");
    expect(expired.status).toBe(255);
    expect(expired.stderr).toContain("Permission denied");
    expect(stack.cp.proc.output()).toContain("certificate expired");

    // The same certificate, still valid, is accepted: only the validity window differed.
    const validKey = keygen("valid-by-hand");
    await signWithSluiceCa(validKey, Date.now() - 60_000, Date.now() + 600_000);
    expect((await sshWithKey(validKey, "echo fine")).stdout).toBe("fine\n");

    const foreignCa = keygen("foreign-ca");
    const victim = keygen("foreign-user");
    execFileSync("ssh-keygen", [
      ...["-q", "-s", foreignCa, "-I", `sluice user=${devId} via=api_key cred=${await devKeyId()}`],
      ...["-n", "Ops", "-V", "-5m:+1h", `${victim}.pub`],
    ]);
    const foreign = await sshWithKey(victim, "true");
    expect(foreign.status).toBe(255);
    expect(stack.cp.proc.output()).toContain("certificate not signed by a trusted CA");
  });
});

describe("sluice ssh and sluice proxy ssh", () => {
  it("runs a command with sluice ssh and passes its output and exit status through", async () => {
    const hi = await sluice(["ssh", "prod-web", "--", "echo", "hi"]);
    expect(hi.stdout, hi.stderr).toBe("hi\n");
    expect(hi.status).toBe(0);
    const failing = await sluice(["ssh", "prod-web", "--", "sh", "-c", "'echo out; echo err >&2; exit 3'"]);
    expect(failing.stdout).toBe("out\n");
    expect(failing.stderr).toBe("err\n");
    expect(failing.status).toBe(3);
  });

  it("says clearly when the connection is unknown, not ssh, or ssh is missing", async () => {
    const unknown = await sluice(["ssh", "no-such-conn", "--", "true"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("unknown connection no-such-conn");
    const notSsh = await sluice(["ssh", "app-pg", "--", "true"]);
    expect(notSsh.status).toBe(1);
    expect(notSsh.stderr).toContain("app-pg is a postgres connection; sluice ssh opens ssh connections only");
    const proxyNotSsh = await sluice(["proxy", "ssh", "app-pg"]);
    expect(proxyNotSsh.status).toBe(1);
    expect(proxyNotSsh.stderr).toContain("app-pg is a postgres connection, not ssh");
    const noSsh = await sluice(["ssh", "prod-web", "--", "true"], { ...cliEnv(), PATH: work });
    expect(noSsh.status).toBe(2);
    expect(noSsh.stderr).toContain("ssh is not installed or not on PATH");
  });

  it("copies files with scp, sftp and rsync through the ProxyCommand, checksums intact", async () => {
    const proxy = `${process.execPath} ${cliPath} proxy ssh %h`;
    const opts = [
      ...["-F", "/dev/null", "-o", `ProxyCommand=${proxy}`, "-o", "HostKeyAlias=sluice-agent"],
      ...["-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"],
    ];
    const local = join(work, "payload.bin");
    execFileSync("sh", ["-c", `head -c ${24 * 1024 * 1024} /dev/urandom > ${local}`]);
    const remote = `/home/${USER}/payload-${Date.now()}.bin`;
    const before = await sessionIds();
    const up = await run("scp", [...opts, local, `prod-web:${remote}`]);
    expect(up.status, up.stderr).toBe(0);
    expect(sha256(remote)).toBe(sha256(local));
    const upload = await events(await latestSession(before));
    expect(upload.find((e) => e.kind === "session.start")?.payload.via).toBe("tunnel");
    const written = upload.find((e) => e.kind === "ssh.sftp" && e.payload.event === "file");
    expect(written?.payload).toMatchObject({ path: remote, bytesWritten: 24 * 1024 * 1024, bytesRead: 0 });

    const back = join(work, "back.bin");
    const down = await run("scp", [...opts, `prod-web:${remote}`, back]);
    expect(down.status, down.stderr).toBe(0);
    expect(sha256(back)).toBe(sha256(local));

    const listing = await run("sftp", [...opts, "-b", "-", "prod-web"], cliEnv(), `ls -l ${remote}\nbye\n`);
    expect(listing.status, listing.stderr).toBe(0);
    expect(listing.stdout).toContain(String(24 * 1024 * 1024));

    const dir = mkdtempSync(join(work, "tree-"));
    writeFileSync(join(dir, "a.txt"), "alpha\n");
    writeFileSync(join(dir, "b.txt"), "beta\n");
    const rsync = await run("rsync", [
      "-a",
      "-e",
      `ssh ${opts.map((o) => (o.includes(" ") ? `'${o}'` : o)).join(" ")}`,
      `${dir}/`,
      `prod-web:/home/${USER}/tree/`,
    ]);
    expect(rsync.status, rsync.stderr).toBe(0);
    expect(readFileSync(`/home/${USER}/tree/b.txt`, "utf8")).toBe("beta\n");
  }, 240_000);

  it("never shows the target's password in logs, responses or recordings", async () => {
    expect(agent.proc.output()).not.toContain(CANARY);
    expect(stack.cp.proc.output()).not.toContain(CANARY);
    for (const id of await sessionIds()) {
      expect((await stack.api(`/api/v1/sessions/${id}/events?limit=5000`)).text).not.toContain(CANARY);
    }
    expect(existsSync(join(cliConfig, "ssh", "id_ed25519.pub"))).toBe(true);
  });
});
