import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./process";

export interface SshdUser {
  name: string;
  password?: string;
  /** `ssh-ed25519 AAAA…` lines accepted for this user. */
  authorizedKeys?: string[];
}

export interface SshdOptions {
  users?: SshdUser[];
  /** Extra sshd_config lines, e.g. `Ciphers aes128-gcm@openssh.com`. */
  config?: string[];
}

export interface RunningSshd {
  port: number;
  dir: string;
  /** `SHA256:…` of the server's ed25519 host key. */
  hostKeyFingerprint: string;
  /** `ssh-ed25519 AAAA…` */
  hostPublicKey: string;
  output(): string;
  stop(): Promise<void>;
}

function ensureUser(u: SshdUser, dir: string): string {
  try {
    execFileSync("id", ["-u", u.name], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["-m", "-s", "/bin/bash", u.name], { stdio: "ignore" });
  }
  if (u.password) execFileSync("chpasswd", { input: `${u.name}:${u.password}\n` });
  const keys = join(dir, `authorized_keys.${u.name}`);
  writeFileSync(keys, (u.authorizedKeys ?? []).map((k) => `${k}\n`).join(""), { mode: 0o644 });
  return keys;
}

interface SpawnedSshd {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

/**
 * Starts sshd and waits for its own "Server listening" line. A port taken between picking and
 * binding makes sshd exit; the caller then tries another port.
 */
async function spawnSshd(configFile: string, timeoutMs: number): Promise<SpawnedSshd | "port-taken"> {
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const ready = new Promise<boolean>((resolve) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      if (/Server listening on/.test(out)) resolve(true);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), timeoutMs).unref();
  });
  if (await ready) return { child, output: () => out, exited };
  child.kill("SIGKILL");
  await exited;
  if (/Address already in use/.test(out)) return "port-taken";
  throw new Error(`sshd did not start:\n${out}`);
}

/**
 * Starts a private OpenSSH server on loopback (needs root for users and privilege
 * separation): own config, host key and authorized keys, password auth without PAM.
 */
export async function startSshd(o: SshdOptions = {}): Promise<RunningSshd> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-sshd-"));
  // sshd reads a user's authorized_keys as that user.
  chmodSync(dir, 0o755);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = join(dir, "ssh_host_ed25519_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey, "-C", "sluice-test"]);
  for (const u of o.users ?? []) ensureUser(u, dir);
  const configFile = join(dir, "sshd_config");
  let started: { port: number; sshd: SpawnedSshd } | undefined;
  for (let attempt = 0; !started; attempt++) {
    const port = await freePort();
    const config = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      `AuthorizedKeysFile ${join(dir, "authorized_keys.%u")}`,
      "StrictModes no",
      "PermitRootLogin no",
      "AllowTcpForwarding yes",
      "Subsystem sftp internal-sftp",
      "LogLevel INFO",
      ...(o.config ?? []),
    ];
    writeFileSync(configFile, `${config.join("\n")}\n`);
    const sshd = await spawnSshd(configFile, 10_000);
    if (sshd !== "port-taken") started = { port, sshd };
    else if (attempt >= 4) throw new Error("sshd found every port it tried taken");
  }
  const { port, sshd } = started;
  const { child, exited } = sshd;
  const hostPublicKey = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${hostKey}.pub`], { encoding: "utf8" });
  return {
    port,
    dir,
    hostKeyFingerprint: fp.split(/\s+/)[1] ?? "",
    hostPublicKey,
    output: sshd.output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
