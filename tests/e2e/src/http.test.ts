import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { eventually, type ManagedProcess, startProcess } from "@sluice/testkit";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestApi, type TestApi } from "./http-upstream";
import { run } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * Internal HTTP APIs end to end: real curl and undici through the real agent's native
 * listener and through `sluice connect`, to a real TLS upstream that only answers the
 * token the agent holds, with a policy that denies, holds for review and masks.
 */

const CONN = "payments-api";
const FILES = "files-api";
let stack: Stack;
let agent: AgentProcess;
let api: TestApi;
let devKey: string;
let reviewerKey: string;
let agentCaFile: string;
const cliPath = join(repoRoot, "apps/cli/bin/sluice.js");
const procs: ManagedProcess[] = [];

function sluiceEnv(key: string): Record<string, string> {
  return { SLUICE_URL: stack.cp.apiUrl, SLUICE_API_KEY: key, SLUICE_CONFIG_DIR: join(stack.home, "cli") };
}

function sluice(args: string[], key = devKey) {
  const res = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...sluiceEnv(key) },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

function sluiceAsync(args: string[], key = devKey) {
  return run(process.execPath, [cliPath, ...args], sluiceEnv(key), 60_000);
}

const base = () => `https://127.0.0.1:${agent.httpPort}`;

function curl(args: string[], key: string | null = devKey) {
  const auth = key ? ["-H", `Authorization: Bearer ${key}`] : [];
  return run("curl", ["-sS", "--cacert", agentCaFile, ...auth, "-w", "\n%{http_code}", ...args], {}, 60_000);
}

function split(out: string): { body: string; status: number } {
  const i = out.lastIndexOf("\n");
  return { body: out.slice(0, i), status: Number(out.slice(i + 1)) };
}

/** One raw request over TLS to the native listener; the first response line comes back. */
function raw(requestText: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port: agent.httpPort, ca: readFileSync(agentCaFile) },
      () => socket.write(requestText),
    );
    let out = "";
    socket.on("data", (c) => {
      out += c.toString("latin1");
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

async function sessionsOf(connection: string) {
  return (await stack.api(`/api/v1/sessions?connection=${connection}`)).body.items as {
    id: string;
    status: string;
  }[];
}

beforeAll(async () => {
  api = await startTestApi();
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "finance" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  reviewerKey = await stack.userKey("fran@example.com", ["finance"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "payments-safety",
      guardrails: [
        { name: "no-order-deletes", http: { methods: ["DELETE"], paths: ["/v1/orders/*"] } },
        {
          name: "no-admin",
          http: { paths: ["/admin/**"] },
          message: "the admin API is not reachable through Sluice",
        },
      ],
      reviewRules: [
        {
          name: "refund-approval",
          http: { methods: ["POST"], paths: ["/v1/refunds"] },
          reviewerGroups: ["finance"],
          timeoutSeconds: 60,
        },
      ],
      masking: [
        { name: "emails", detector: "email", action: "redact" },
        { name: "cards", jsonPaths: ["$.customers[*].card"], action: "keep_last", keep: 4 },
      ],
    },
  });
  expect(policy.status, policy.text).toBe(201);
  for (const [name, policyIds, http] of [
    [CONN, [policy.body.id], {}],
    [FILES, [], { passUnmaskableContent: true }],
  ] as const) {
    const conn = await stack.api("/api/v1/connections", {
      method: "POST",
      body: {
        name,
        type: "http",
        host: "127.0.0.1",
        port: api.port,
        credentialRef: "env:E2E_API_TOKEN",
        tls: { mode: "verify-full", caPem: api.pki.caPem },
        http: { inject: { kind: "bearer" }, ...http },
        allowedGroups: ["eng"],
        policyIds,
      },
    });
    expect(conn.status, conn.text).toBe(201);
  }
  agentCaFile = join(stack.home, "agent-ca.pem");
  writeFileSync(agentCaFile, (await stack.api("/api/v1/ca")).body.caPem);
  agent = await stack.startAgent("http-edge", { E2E_API_TOKEN: api.token });
  await agent.proc.waitForOutput(/http listener ready/, 30_000);
  let last = "";
  await eventually(
    async () => {
      const res = await curl([`${base()}/${CONN}/v1/customers`]);
      last = `${res.stdout}\n${res.stderr}\n${agent.proc.output().slice(-3000)}`;
      return split(res.stdout).status === 200;
    },
    20_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${last}`);
  });
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await stack?.stop();
  await api?.close();
});

describe("http connections through the native listener", () => {
  it("injects the agent's token upstream, never the caller's key, and masks the JSON response", async () => {
    const before = api.seen.length;
    const res = await curl([`${base()}/${CONN}/v1/customers`]);
    const { body, status } = split(res.stdout);
    expect(status, res.stderr).toBe(200);
    const json = JSON.parse(body);
    expect(json.customers.map((c: { name: string }) => c.name)).toEqual(["Ann", "Bob"]);
    expect(body).not.toContain("ann@example.com");
    expect(json.customers[0].card).not.toBe("4111111111111111");
    expect(json.customers[0].card.endsWith("1111")).toBe(true);
    const seen = api.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${api.token}`);
    expect(JSON.stringify(seen[0]?.headers)).not.toContain(devKey);
  });

  it("decodes a gzip response to mask it, and honours Expect: 100-continue", async () => {
    const gz = await curl(["--compressed", "-D", "-", `${base()}/${CONN}/v1/customers.gz`]);
    expect(gz.stdout).not.toContain("ann@example.com");
    expect(gz.stdout).toContain('"name":"Ann"');
    expect(gz.stdout.toLowerCase()).not.toContain("content-encoding: gzip");
    const body = join(stack.home, "upload.bin");
    writeFileSync(body, Buffer.alloc(3 * 1024 * 1024, 2));
    const up = await curl([
      "-v",
      "-H",
      "Expect: 100-continue",
      "-H",
      "Content-Type: application/octet-stream",
      "--data-binary",
      `@${body}`,
      `${base()}/${FILES}/v1/upload`,
    ]);
    expect(up.stderr).toContain("HTTP/1.1 100 Continue");
    expect(JSON.parse(split(up.stdout).body)).toEqual({ received: 3 * 1024 * 1024 });
  });

  it("answers 401 without a Sluice credential, and never lets the caller's key or the held token through", async () => {
    const anon = split((await curl([`${base()}/${CONN}/v1/customers`], null)).stdout);
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body).error.code).toBe("auth.missing_credentials");
    const wrong = split((await curl([`${base()}/${CONN}/v1/customers`], "sk_not_a_key")).stdout);
    expect([401, 403]).toContain(wrong.status);
    const echo = await curl(["-i", `${base()}/${CONN}/v1/echo-token`]);
    expect(echo.stdout, echo.stdout).not.toContain(api.token);
    expect(echo.stdout).toContain("you sent");
  });

  it("denies DELETE /v1/orders/* with 403 naming the rule, however the path is spelled", async () => {
    const before = api.seen.length;
    for (const path of [
      "/v1/orders/42",
      "/v1/x/../orders/42",
      "/v1/%2e%2e/v1/orders/42",
      "//v1//orders/42",
      "/V1/Orders/42",
      "/v1/orders/42;x=1",
    ]) {
      const res = split((await curl(["--path-as-is", "-X", "DELETE", `${base()}/${CONN}${path}`])).stdout);
      expect(res.status, path).toBe(403);
      expect(JSON.parse(res.body).error.rule, path).toBe("no-order-deletes");
    }
    const admin = split((await curl([`${base()}/${CONN}/admin/users`])).stdout);
    expect(admin.status).toBe(403);
    expect(JSON.parse(admin.body).error.message).toContain("admin API");
    expect(api.seen.slice(before)).toEqual([]);
    const ok = split((await curl(["-X", "DELETE", `${base()}/${CONN}/v1/carts/42`])).stdout);
    expect(ok.status).toBe(200);
  });

  it("refuses smuggling and traversal attempts with 400 before anything reaches the upstream", async () => {
    const before = api.seen.length;
    const host = `Host: 127.0.0.1:${agent.httpPort}\r\nAuthorization: Bearer ${devKey}\r\n`;
    const attempts = [
      `POST /${CONN}/v1/x HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `GET /${CONN}/v1/x HTTP/1.1\r\n${host}Host: evil.example\r\n\r\n`,
      `GET https://evil.example/${CONN}/v1/x HTTP/1.1\r\n${host}\r\n`,
      `GET /${CONN}/v1/x HTTP/1.1\r\n${host}X-A: 1\r\n folded\r\n\r\n`,
      `POST /${CONN}/v1/x HTTP/1.1\r\n${host}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd`,
      `GET /${CONN}/../../etc/passwd HTTP/1.1\r\n${host}\r\n`,
      `GET /${CONN}/v1/%252e%252e/admin HTTP/1.1\r\n${host}\r\n`,
      `GET /${CONN}/v1/a%2fb HTTP/1.1\r\n${host}\r\n`,
    ];
    for (const text of attempts) {
      const out = await raw(text);
      expect(out.split("\r\n")[0], text).toMatch(/^HTTP\/1\.1 400/);
    }
    expect(api.seen.slice(before)).toEqual([]);
  });

  it("holds POST /v1/refunds while curl waits, and completes it after sluice reviews approve", async () => {
    const before = api.seen.length;
    const pending = curl([
      "-X",
      "POST",
      "-H",
      "Content-Type: application/json",
      "-d",
      '{"order":7,"amount":1200}',
      `${base()}/${CONN}/v1/refunds`,
    ]);
    const review = await eventually(async () => {
      const res = await stack.api("/api/v1/reviews?status=pending", { key: reviewerKey });
      return res.body.items?.[0] as { id: string; statement: string } | undefined;
    }, 20_000);
    expect(review.statement).toContain("POST /v1/refunds");
    expect(review.statement).toContain('"amount":1200');
    expect(api.seen.slice(before)).toEqual([]);
    const approved = sluice(["reviews", "approve", review.id, "--comment", "refund for INC-7"], reviewerKey);
    expect(approved.code, approved.stderr).toBe(0);
    const done = split((await pending).stdout);
    expect(done.status).toBe(201);
    expect(JSON.parse(done.body)).toEqual({ refunded: true });
    const seen = api.seen.slice(before);
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual([
      'POST /v1/refunds {"order":7,"amount":1200}',
    ]);
  });

  it("passes Server-Sent Events through as they arrive, masked", async () => {
    const res = await request(`${base()}/${CONN}/v1/events`, {
      headers: { authorization: `Bearer ${devKey}` },
      dispatcher: new Agent({ connect: { ca: readFileSync(agentCaFile) } }),
    });
    expect(res.statusCode).toBe(200);
    const it = res.body[Symbol.asyncIterator]();
    const first = Buffer.from((await it.next()).value).toString();
    expect(first).toContain('"n":1');
    expect(first).not.toContain("first@example.com");
    api.releaseSecondEvent();
    let rest = "";
    for (let r = await it.next(); !r.done; r = await it.next()) rest += Buffer.from(r.value).toString();
    expect(rest).toContain('"n":2');
  });

  it("proxies WebSockets with the agent's token and masks server messages", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${agent.httpPort}/${CONN}/v1/ws`, {
      headers: { authorization: `Bearer ${devKey}` },
      ca: readFileSync(agentCaFile),
    });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const reply = new Promise<string>((resolve) => ws.once("message", (d) => resolve(d.toString())));
    ws.send("hello");
    const msg = JSON.parse(await reply);
    expect(msg.echo).toBe("hello");
    expect(msg.email).not.toBe("ws@example.org");
    ws.close();
  });

  it("streams a 1 GB download and a 1 GB upload with bounded agent memory", async () => {
    const gb = 1024 * 1024 * 1024;
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.proc.child.pid}/status`, "utf8"))?.[1]) * 1024;
    const start = rss();
    let peak = start;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 100);
    try {
      const down = await curl(["-o", "/dev/null", `${base()}/${FILES}/v1/download?bytes=${gb}`]);
      expect(split(down.stdout).status, down.stderr).toBe(200);
      const up = await new Promise<string>((resolve, reject) => {
        const child = spawn("curl", [
          "-sS",
          "--cacert",
          agentCaFile,
          "-H",
          `Authorization: Bearer ${devKey}`,
          "-H",
          "Content-Type: application/octet-stream",
          "-T",
          "-",
          `${base()}/${FILES}/v1/upload`,
        ]);
        let out = "";
        child.stdout.on("data", (c) => {
          out += c;
        });
        child.on("error", reject);
        child.on("close", () => resolve(out));
        const chunk = Buffer.alloc(1024 * 1024, 1);
        let sent = 0;
        const pump = () => {
          while (sent < gb) {
            sent += chunk.length;
            if (!child.stdin.write(chunk)) return child.stdin.once("drain", pump);
          }
          child.stdin.end();
        };
        pump();
      });
      expect(JSON.parse(up)).toEqual({ received: gb });
    } finally {
      clearInterval(sampler);
    }
    expect(peak - start).toBeLessThan(200 * 1024 * 1024);
  }, 240_000);
});

describe("http connections through the tunnel", () => {
  it("serves plain HTTP on 127.0.0.1 with sluice connect and answers one-off calls with sluice http", {
    timeout: 120_000,
  }, async () => {
    const connect = startProcess(process.execPath, [cliPath, "connect", CONN, "--port", "0"], {
      env: { ...process.env, ...sluiceEnv(devKey) },
    });
    procs.push(connect);
    const line = await connect.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/, 30_000);
    const port = Number(line[1]);
    const res = await run("curl", ["-sS", "-w", "\n%{http_code}", `http://127.0.0.1:${port}/v1/customers`]);
    const { body, status } = split(res.stdout);
    expect(status, res.stderr).toBe(200);
    expect(body).toContain('"name":"Ann"');
    expect(body).not.toContain("ann@example.com");
    const denied = split(
      (
        await run("curl", [
          "-sS",
          "-w",
          "\n%{http_code}",
          "-X",
          "DELETE",
          `http://127.0.0.1:${port}/v1/orders/9`,
        ])
      ).stdout,
    );
    expect(denied.status).toBe(403);
    await connect.stop();

    // Asynchronously: the upstream answering these requests runs in this process.
    const once = await sluiceAsync(["http", CONN, "GET", "/v1/customers"]);
    expect(once.code, `${once.stderr}\n${once.stdout}\n${agent.proc.output().slice(-2000)}`).toBe(0);
    expect(JSON.parse(once.stdout).customers[1].name).toBe("Bob");
    expect(once.stdout).not.toContain("bob@example.net");
    const refused = await sluiceAsync(["http", CONN, "DELETE", "/v1/orders/1", "--fail"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("no-order-deletes");
  });

  it("answers requests a client sends in the same write as its grant, and right after the OK", async () => {
    const get = "GET /v1/customers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Pipelined: the request rides in the preamble's own write, or is written the moment the
    // OK line arrives; either way it may reach the agent before the HTTP server takes the socket.
    const exchange = async (together: boolean) => {
      const started = await stack.api("/api/v1/sessions", {
        method: "POST",
        body: { connection: CONN },
        key: devKey,
      });
      expect(started.status).toBe(201);
      const { grant, agent: target } = started.body as {
        grant: string;
        agent: { endpoints: { protocol: string; host: string; port: number }[] };
      };
      const endpoint = target.endpoints.find((e) => e.protocol === "tunnel");
      if (!endpoint) throw new Error("the agent announced no tunnel endpoint");
      return new Promise<string>((resolve, reject) => {
        const socket = tls.connect(
          { host: endpoint.host, port: endpoint.port, ca: readFileSync(agentCaFile) },
          () => socket.write(`SLUICE/1 ${CONN} ${grant}\n${together ? get : ""}`),
        );
        let out = "";
        socket.on("data", (c) => {
          const first = out === "";
          out += c.toString("latin1");
          if (first && !together) socket.write(get);
        });
        socket.on("close", () => resolve(out));
        socket.on("error", reject);
        socket.setTimeout(10_000, () => socket.destroy());
      });
    };
    for (const together of [true, false]) {
      const out = await exchange(together);
      expect(out, out).toMatch(/^OK \S+\nHTTP\/1\.1 200 /);
      expect(out).toContain('"name":"Ann"');
      expect(out).not.toContain("ann@example.com");
    }
  });

  it("records every exchange and replays the session", async () => {
    if (stack.cp.proc.child.exitCode !== null)
      throw new Error(`control plane died: ${stack.cp.proc.output().slice(-3000)}`);
    const sessions = await sessionsOf(CONN);
    const events = await Promise.all(
      sessions.map(
        async (s) =>
          (await stack.api(`/api/v1/sessions/${s.id}/events?limit=5000`)).body.items as {
            kind: string;
            payload: any;
          }[],
      ),
    );
    const all = events.flat();
    const exchanges = all.filter((e) => e.kind === "http.exchange").map((e) => e.payload);
    expect(
      exchanges.some((e) => e.method === "DELETE" && e.path === "/v1/orders/42" && e.status === 403),
    ).toBe(true);
    expect(
      exchanges.some(
        (e) =>
          e.method === "POST" && e.path === "/v1/refunds" && e.status === 201 && e.verdict === "approved",
      ),
    ).toBe(true);
    const recorded = JSON.stringify(all);
    expect(recorded).not.toContain(api.token);
    expect(recorded).not.toContain(devKey);
    expect(recorded).not.toContain("ann@example.com");
    expect(all.some((e) => e.kind === "http.ws")).toBe(true);
    const withKind = (pred: (e: any) => boolean) =>
      sessions.find((_s, n) => events[n]?.some((e) => e.kind === "http.exchange" && pred(e.payload)));
    const picked = [
      withKind((e) => e.method === "GET" && e.path === "/v1/customers"),
      withKind((e) => e.method === "DELETE" && e.status === 403),
    ];
    const replayed = picked
      .map((s) => sluice(["sessions", "replay", String(s?.id), "--no-timing"], stack.adminKey).stdout)
      .join("\n");
    expect(replayed).toMatch(/GET \/v1\/customers -> 200/);
    expect(replayed, replayed).toMatch(/DELETE \/v1\/orders\/\d+ -> 403 \[denied by rule no-order-deletes\]/);
  });
});
