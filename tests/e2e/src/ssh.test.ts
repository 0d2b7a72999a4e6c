import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, createReadStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningSshd, startSshd } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type Stack, startStack } from "./stack";

const CANARY = `ssh-canary-${randomBytes(8).toString("hex")}`;
const USER = "sluicetest";
let sshd: RunningSshd;
let stack: Stack;
let agent: AgentProcess;
let sshPort = 0;
let devKey = "";
const work = mkdtempSync(join(tmpdir(), "sluice-ssh-e2e-"));
const askpass = join(work, "askpass.sh");
const knownHosts = join(work, "known_hosts");

async function grantFor(connection: string): Promise<{ sid: string; grant: string }> {
  const res = await stack.api("/api/v1/sessions", { method: "POST", body: { connection }, key: devKey });
  if (res.status !== 201) throw new Error(`session start failed: ${res.text}`);
  return { sid: res.body.session.id, grant: res.body.grant };
}

function sshArgs(port: number): string[] {
  return [...clientOptions(), "-o", `Port=${port}`];
}

/** Options shared by ssh, scp and sftp: the agent's host key is pinned, only password auth. */
function clientOptions(): string[] {
  return [
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "PreferredAuthentications=password,keyboard-interactive",
    "-o",
    "PubkeyAuthentication=no",
    "-o",
    "LogLevel=ERROR",
  ];
}

function run(cmd: string, args: string[], token: string, input?: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    env: {
      ...process.env,
      SSH_ASKPASS: askpass,
      SSH_ASKPASS_REQUIRE: "force",
      DISPLAY: ":0",
      TEST_TOKEN: token,
    },
    input: input ?? "",
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

const ssh = (conn: string, token: string, remote: string[], input?: string, extra: string[] = []) =>
  run("ssh", [...sshArgs(sshPort), ...extra, `${conn}@127.0.0.1`, ...remote], token, input);

const events = (sid: string) => stack.closedSessionEvents(sid, 20_000);

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(h.digest("hex")))
      .on("error", reject);
  });
}

beforeAll(async () => {
  writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$TEST_TOKEN"\n');
  chmodSync(askpass, 0o755);
  sshd = await startSshd({ users: [{ name: USER, password: CANARY }] });
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "ops" } });
  const u = await stack.api("/api/v1/users", {
    method: "POST",
    body: { name: "Ops", email: "ops@example.com", groups: ["ops"] },
  });
  devKey = (await stack.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } }))
    .body.secret;
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "ssh-safety",
      guardrails: [{ name: "no-rm-root", action: "deny", commands: ["rm\\s+-rf\\s+/", "^\\s*shutdown\\b"] }],
    },
  });
  expect(policy.status, policy.text).toBe(201);
  const base = {
    type: "ssh",
    host: "127.0.0.1",
    port: sshd.port,
    username: USER,
    credentialRef: "env:WEB_SSH_PASSWORD",
    allowedGroups: ["ops"],
  };
  const web = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      ...base,
      name: "prod-web",
      ssh: { hostKey: sshd.hostKeyFingerprint },
      policyIds: [policy.body.id],
    },
  });
  expect(web.status, web.text).toBe(201);
  expect(web.body.ssh).toEqual({ hostKey: sshd.hostKeyFingerprint });
  await stack.api("/api/v1/connections", {
    method: "POST",
    body: { ...base, name: "wrong-key", ssh: { hostKey: `SHA256:${"A".repeat(43)}` } },
  });
  agent = await stack.startAgent("ssh-edge", {
    WEB_SSH_PASSWORD: CANARY,
    SLUICE_SSH_LISTEN: "127.0.0.1:0",
  });
  await agent.proc.waitForOutput(/ssh listener ready/);
  sshPort = agent.sshPort;
  const pub = agent.sshHostPublicKey();
  writeFileSync(knownHosts, `[127.0.0.1]:${sshPort} ${pub}\n`);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await sshd?.stop();
});

describe("ssh through the agent", () => {
  it("runs a command and passes its exit status through", async () => {
    const { sid, grant } = await grantFor("prod-web");
    const r = ssh("prod-web", grant, ["echo from-$(whoami); exit 7"]);
    expect(r.stdout.trim(), r.stderr).toBe(`from-${USER}`);
    expect(r.status).toBe(7);
    const ev = await events(sid);
    expect(ev.find((e) => e.kind === "session.start")?.payload.protocol).toBe("ssh");
    expect(ev.find((e) => e.kind === "ssh.exec")?.payload.command).toBe("echo from-$(whoami); exit 7");
    expect(ev.find((e) => e.kind === "ssh.exit")?.payload).toEqual({ code: 7 });
  });

  it("accepts an API key as the password (exchanged with the control plane)", () => {
    const r = ssh("prod-web", devKey, ["true"]);
    expect(r.status, r.stderr).toBe(0);
  });

  it("records an interactive shell and serves it as asciicast", async () => {
    const { sid, grant } = await grantFor("prod-web");
    const r = ssh("prod-web", grant, [], "echo marker-$((6*7))\nexit\n", ["-tt"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("marker-42");
    const ev = await events(sid);
    expect(ev.some((e) => e.kind === "ssh.pty")).toBe(true);
    const res = await fetch(`${stack.cp.apiUrl}/api/v1/sessions/${sid}/cast`, {
      headers: { authorization: `Bearer ${stack.adminKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/x-asciicast");
    const lines = (await res.text()).trim().split("\n");
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ version: 2 });
    const output = lines
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === "o")
      .map((e) => e[2])
      .join("");
    expect(output).toContain("marker-42");
  });

  it("blocks a command denied by policy before it reaches the target", async () => {
    const { sid, grant } = await grantFor("prod-web");
    const r = ssh("prod-web", grant, ["rm -rf /tmp/sluice-nothing"]);
    expect(r.status).toBe(126);
    expect(r.stderr).toContain("sluice: command blocked by policy rule no-rm-root");
    const ev = await events(sid);
    expect(ev.find((e) => e.kind === "ssh.denied")?.payload.command).toBe("rm -rf /tmp/sluice-nothing");
  });

  it("copies 100 MB both ways with scp unchanged", async () => {
    const local = join(work, "up.bin");
    const back = join(work, "down.bin");
    const remote = `/home/${USER}/up-${Date.now()}.bin`;
    spawnSync("sh", ["-c", `head -c ${100 * 1024 * 1024} /dev/urandom > ${local}`]);
    const up = await grantFor("prod-web");
    const scpArgs = [...clientOptions(), "-P", String(sshPort)];
    const r1 = run("scp", [...scpArgs, local, `prod-web@127.0.0.1:${remote}`], up.grant);
    expect(r1.status, r1.stderr).toBe(0);
    expect(await sha256(remote)).toBe(await sha256(local));
    const down = await grantFor("prod-web");
    const r2 = run("scp", [...scpArgs, `prod-web@127.0.0.1:${remote}`, back], down.grant);
    expect(r2.status, r2.stderr).toBe(0);
    expect(await sha256(back)).toBe(await sha256(local));
    const ev = await events(up.sid);
    const sftpEnd = ev.find((e) => e.kind === "ssh.sftp" && e.payload.event === "end");
    expect(sftpEnd?.payload.bytesIn).toBeGreaterThan(100 * 1024 * 1024);
  }, 240_000);

  it("supports legacy scp (exec) and records the file path", async () => {
    const local = join(work, "small.txt");
    writeFileSync(local, "legacy scp\n");
    const { sid, grant } = await grantFor("prod-web");
    const scpArgs = [...clientOptions(), "-P", String(sshPort), "-O"];
    const r = run("scp", [...scpArgs, local, `prod-web@127.0.0.1:/home/${USER}/small.txt`], grant);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(`/home/${USER}/small.txt`, "utf8")).toBe("legacy scp\n");
    const ev = await events(sid);
    expect(ev.find((e) => e.kind === "ssh.scp" && e.payload.event === "end")?.payload).toMatchObject({
      direction: "upload",
      path: `/home/${USER}/small.txt`,
    });
  });

  it("serves sftp unchanged", async () => {
    const { grant } = await grantFor("prod-web");
    const r = run(
      "sftp",
      [...clientOptions(), "-P", String(sshPort), "prod-web@127.0.0.1"],
      grant,
      "pwd\nls\nbye\n",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`/home/${USER}`);
  });

  it("refuses a wrong Sluice credential", () => {
    const r = ssh("prod-web", "not-a-valid-token-at-all", ["true"]);
    expect(r.status).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("refuses a target whose host key does not match the pinned fingerprint", async () => {
    const { sid, grant } = await grantFor("wrong-key");
    const r = ssh("wrong-key", grant, ["true"]);
    expect(r.status).toBe(255);
    expect(r.stderr).toContain("does not match the pinned SHA256:AAAA");
    const ev = await events(sid);
    expect(ev.find((e) => e.kind === "session.end")?.payload.error).toMatch(/does not match the pinned/);
  });

  it("never shows the target's password in logs, API responses or recordings", async () => {
    expect(agent.proc.output()).not.toContain(CANARY);
    expect(stack.cp.proc.output()).not.toContain(CANARY);
    const list = await stack.api("/api/v1/sessions?limit=200");
    const sessions = list.body.items as { id: string }[];
    expect(sessions.length, list.text).toBeGreaterThan(5);
    for (const s of sessions) {
      expect((await stack.api(`/api/v1/sessions/${s.id}/events?limit=1000`)).text).not.toContain(CANARY);
      expect((await stack.api(`/api/v1/sessions/${s.id}/cast`)).text).not.toContain(CANARY);
    }
  });
});
