import { mkdtempSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import ssh2, { type Server } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChannelObserver, flushed } from "./bridge";
import { coalesceWrites } from "./coalesce";
import { fingerprint, loadOrCreateHostKey } from "./host-key";
import { createHostKeyCheck, createKnownHostsFile, type HostKeyCheckOptions } from "./host-key-check";
import { createSshProxyServer } from "./server";
import { connectUpstream } from "./upstream";

const dir = mkdtempSync(join(tmpdir(), "ssh-proxy-test-"));
const TARGET_PW = "target-secret-pw";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

/** A tiny target: exec prints the command and exits 7; a pty shell echoes input upper-cased. */
function startTarget(keyFile: string) {
  const key = loadOrCreateHostKey(keyFile);
  const server = new ssh2.Server({ hostKeys: [key.privateKey] }, (conn) => {
    // Packets written in one turn arrive together, as from a busy sshd.
    coalesceWrites((conn as unknown as { _sock: Socket })._sock);
    conn.on("authentication", (ctx) =>
      ctx.method === "password" && ctx.password === TARGET_PW ? ctx.accept() : ctx.reject(["password"]),
    );
    conn.on("session", (accept) => {
      const s = accept();
      s.on("pty", (a) => a?.());
      s.on("exec", (a, _r, info) => {
        const ch = a();
        if (info.command === "quick") {
          // Exit status, EOF and close go out with the exec reply, in one write.
          ch.exit(3);
          ch.end();
          return;
        }
        if (info.command === "bulk") {
          // More than the client's window holds: the proxy still has data queued when the target closes.
          for (let i = 0; i < 256; i++) ch.write(Buffer.alloc(32 * 1024, i));
          ch.exit(0);
          ch.end();
          return;
        }
        ch.write(`ran:${info.command}\n`);
        ch.stderr.write("to-stderr\n");
        ch.exit(7);
        ch.end();
      });
      s.on("shell", (a) => {
        const ch = a();
        ch.on("data", (d: Buffer) => {
          if (d.toString() === "q") {
            ch.exit(0);
            ch.end();
          } else ch.write(d.toString().toUpperCase());
        });
      });
    });
    conn.on("error", () => undefined);
  });
  return { server, key };
}

const targetA = startTarget(join(dir, "a.key"));
const targetB = startTarget(join(dir, "b.key"));
let portA = 0;
let portB = 0;
const events: string[] = [];

function startProxy(check: () => HostKeyCheckOptions, port: () => number) {
  const proxyKey = loadOrCreateHostKey(join(dir, "proxy.key"));
  const proxy = createSshProxyServer({
    hostKey: proxyKey.privateKey,
    failureDelayMs: 10,
    async authenticate(req) {
      const secret = req.credential.kind === "secret" ? req.credential.secret : "";
      if (secret !== "good-token" || req.username !== "prod-web") throw new Error("no");
      return {
        hooks: {
          allowPortForwarding: false,
          checkExec: (cmd) =>
            /rm -rf/.test(cmd) ? "sluice: command blocked by policy rule no-rm" : undefined,
          channel: (): ChannelObserver => ({
            start: (kind, detail) => events.push(`start ${kind} ${detail}`),
            output: (c) => events.push(`out ${c.toString().trim()}`),
            exit: (e) => events.push(`exit ${JSON.stringify(e)}`),
          }),
        },
        upstream: () =>
          connectUpstream({
            host: "127.0.0.1",
            port: port(),
            username: "app",
            secret: TARGET_PW,
            hostKey: createHostKeyCheck(check()),
          }),
        onEnd: () => events.push("end"),
      };
    },
  });
  return proxy;
}

function run(port: number, password: string, command: string) {
  return new Promise<{ out: string; err: string; code: number | null; authError?: string }>((resolve) => {
    const c = new ssh2.Client();
    let out = "";
    let err = "";
    c.on("ready", () =>
      c.exec(command, (e, ch) => {
        if (e) return resolve({ out, err: e.message, code: null });
        ch.on("data", (d: Buffer) => {
          out += d;
        });
        ch.stderr.on("data", (d: Buffer) => {
          err += d;
        });
        ch.on("close", (code: number | null) => {
          c.end();
          resolve({ out, err, code });
        });
      }),
    );
    c.on("error", (e: Error & { level?: string }) => resolve({ out, err, code: null, authError: e.level }));
    c.connect({ host: "127.0.0.1", port, username: "prod-web", password });
  });
}

let pinnedPort = 0;
let tofuPort = 0;
let tofuTarget = () => portA;
const servers: Server[] = [];

beforeAll(async () => {
  portA = await listen(targetA.server);
  portB = await listen(targetB.server);
  const pinned = startProxy(
    () => ({ pinned: targetA.key.fingerprint }),
    () => portA,
  );
  const tofu = startProxy(
    () => ({ tofu: { store: createKnownHostsFile(join(dir, "known.json")), id: "conn-1" } }),
    () => tofuTarget(),
  );
  servers.push(targetA.server, targetB.server, pinned.server, tofu.server);
  pinnedPort = await listen(pinned.server);
  tofuPort = await listen(tofu.server);
});

afterAll(() => {
  for (const s of servers) s.close();
});

describe("ssh proxy bridge", () => {
  it("relays exec output, stderr and the exit status", async () => {
    const r = await run(pinnedPort, "good-token", "echo hi");
    expect(r).toMatchObject({ out: "ran:echo hi\n", err: "to-stderr\n", code: 7 });
    expect(events).toContain("start exec echo hi");
    expect(events).toContain('exit {"code":7}');
  });

  it("delivers all of a large output and then the exit status, even to a slow reader", async () => {
    const result = await new Promise<{ bytes: number; code: number | null }>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on("ready", () =>
        c.exec("bulk", (e, ch) => {
          if (e) return reject(e);
          let bytes = 0;
          ch.pause();
          setTimeout(() => ch.resume(), 500);
          ch.on("data", (d: Buffer) => {
            bytes += d.length;
          });
          ch.on("close", (code: number | null) => {
            c.end();
            resolve({ bytes, code });
          });
        }),
      );
      c.on("error", reject);
      c.connect({ host: "127.0.0.1", port: pinnedPort, username: "prod-web", password: "good-token" });
    });
    expect(result).toEqual({ bytes: 256 * 32 * 1024, code: 0 });
  });

  it("knows when queued output has gone out, though no write ever filled the buffer", async () => {
    // Like a channel waiting for the peer's window: writes complete later, 'drain' never comes.
    const sent: number[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        setTimeout(() => {
          sent.push(chunk.length);
          cb();
        }, 50);
      },
    });
    expect(slow.write(Buffer.alloc(10))).toBe(true);
    expect(slow.write(Buffer.alloc(20))).toBe(true);
    await flushed(slow);
    expect(sent).toEqual([10, 20, 0]);
    await flushed(slow);
  });

  it("refuses a bad Sluice credential with a generic authentication failure", async () => {
    const r = await run(pinnedPort, "bad-token", "echo hi");
    expect(r.authError).toBe("client-authentication");
  });

  it("passes the exit status of a command that exits at once", async () => {
    for (let i = 0; i < 15; i++) {
      expect((await run(pinnedPort, "good-token", "quick")).code).toBe(3);
    }
  });

  it("blocks a denied exec before it reaches the target", async () => {
    const r = await run(pinnedPort, "good-token", "rm -rf /");
    expect(r).toMatchObject({ out: "", code: 126 });
    expect(r.err).toContain("command blocked by policy rule no-rm");
  });

  it("relays a pty shell", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on("ready", () =>
        c.shell({ rows: 24, cols: 80, term: "xterm" }, (e, ch) => {
          if (e) return reject(e);
          let text = "";
          ch.on("data", (d: Buffer) => {
            text += d;
            if (text === "ABC") ch.write("q");
          });
          ch.on("close", () => {
            c.end();
            resolve(text);
          });
          ch.write("abc");
        }),
      );
      c.on("error", reject);
      c.connect({ host: "127.0.0.1", port: pinnedPort, username: "prod-web", password: "good-token" });
    });
    expect(out).toBe("ABC");
  });

  it("trusts the first host key, then refuses a changed one with a clear message", async () => {
    expect((await run(tofuPort, "good-token", "x")).code).toBe(7);
    expect((await run(tofuPort, "good-token", "x")).code).toBe(7);
    tofuTarget = () => portB;
    const r = await run(tofuPort, "good-token", "x");
    expect(r.code).toBe(255);
    expect(r.err).toContain(`host key changed: first seen ${targetA.key.fingerprint}`);
  });

  it("formats fingerprints like OpenSSH", () => {
    expect(fingerprint(targetA.key.publicKey)).toBe(targetA.key.fingerprint);
    expect(targetA.key.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
