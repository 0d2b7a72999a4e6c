import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { eventually, type FakeKube, writeKubeconfig } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeWorld } from "./kube-world";
import { run } from "./psql";
import { type AgentProcess, repoRoot, type Stack } from "./stack";

/**
 * Kubernetes end to end: the real kubectl, unchanged, through the real agent's Kubernetes
 * listener to a fake API server (testkit; no API server installs here) that only answers
 * the token the agent holds, with a policy that denies, holds exec in prod for review,
 * and Secrets redacted on the way out.
 */

const KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const CONN = "cluster";
let stack: Stack;
let agent: AgentProcess;
let fake: FakeKube;
let devKey: string;
let reviewerKey: string;
let kubeconfig: string;
let agentCa: string;
const cliPath = join(repoRoot, "apps/cli/bin/sluice.js");

function kubectl(args: string[], timeoutMs = 60_000) {
  return run(KUBECTL, ["--kubeconfig", kubeconfig, ...args], {}, timeoutMs);
}

function sluice(args: string[], key: string) {
  return run(
    process.execPath,
    [cliPath, ...args],
    { SLUICE_URL: stack.cp.apiUrl, SLUICE_API_KEY: key, SLUICE_CONFIG_DIR: join(stack.home, "cli") },
    60_000,
  );
}

async function lastSession() {
  const items = (await stack.api(`/api/v1/sessions?connection=${CONN}&limit=1`)).body.items as {
    id: string;
  }[];
  return items[0]?.id as string;
}

async function eventsOf(sid: string) {
  return (await stack.api(`/api/v1/sessions/${sid}/events?limit=1000`)).body.items as {
    kind: string;
    payload: Record<string, unknown>;
  }[];
}

beforeAll(async () => {
  const world = await startKubeWorld({
    connection: CONN,
    groups: ["sre"],
    seed: (fake) => {
      fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } });
      for (const ns of ["default", "prod"]) {
        fake.seed({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "web", namespace: ns },
          spec: { containers: [{ name: "app", image: "busybox" }] },
        });
      }
      fake.seed({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "db", namespace: "default" },
        type: "Opaque",
        data: { password: Buffer.from("hunter2-prod").toString("base64") },
      });
      fake.seed({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "break-glass-admin", namespace: "default" },
        data: { token: Buffer.from("root-token").toString("base64") },
      });
      fake.seed({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "contacts", namespace: "default" },
        data: { owner: "ops-lead@example.com", team: "payments" },
      });
    },
    policy: {
      name: "cluster-safety",
      guardrails: [
        {
          name: "keep-prod",
          kube: { verbs: ["delete"], resources: ["namespaces"], names: ["prod"] },
          message: "the prod namespace cannot be deleted through Sluice",
        },
        { name: "no-break-glass", kube: { resources: ["secrets"], names: ["break-glass-*"] } },
        { name: "no-new-prod", kube: { verbs: ["create"], resources: ["namespaces"], names: ["prod-*"] } },
      ],
      masking: [{ name: "emails", detector: "email", action: "redact" }],
      reviewRules: [
        {
          name: "prod-exec",
          kube: { resources: ["pods/exec"], namespaces: ["prod"] },
          reviewerGroups: ["sre"],
          timeoutSeconds: 120,
        },
      ],
    },
  });
  ({ stack, fake, agent, devKey, agentCa } = world);
  reviewerKey = await stack.userKey("sam@example.com", ["sre"]);
  kubeconfig = join(stack.home, "kubeconfig");
  writeKubeconfig(kubeconfig, {
    server: `https://127.0.0.1:${agent.kubePort}/${CONN}`,
    caPem: agentCa,
    token: devKey,
    context: "sluice",
  });
  let last = "";
  await eventually(
    async () => {
      const res = await kubectl(["get", "pods", "-n", "default"]);
      last = `${res.stdout}\n${res.stderr}`;
      return res.code === 0;
    },
    30_000,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${last}\n${agent.proc.output().slice(-3000)}`);
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await fake?.close();
});

describe("kubectl through the agent", () => {
  it("lists pods as the Sluice identity: the cluster sees impersonation, never the caller's key", async () => {
    fake.reset();
    const res = await kubectl(["get", "pods", "-n", "default", "-o", "wide"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^NAME\s+READY\s+STATUS/m);
    expect(res.stdout).toMatch(/^web\s/m);
    const list = fake.requests.find((r) => r.resource === "pods" && r.verb === "list");
    expect(list).toMatchObject({ authUser: "kubernetes-admin", user: "dev@example.com", impersonated: true });
    expect(list?.groups).toContain("sluice:eng");
    expect(JSON.stringify(fake.requests)).not.toContain(devKey);
  });

  it("serves kubectl 1.27 too (get and apply; its SPDY exec is refused with a message)", async () => {
    const old = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
    const got = await run(old, ["--kubeconfig", kubeconfig, "get", "pods", "-n", "default", "-o", "name"]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain("pod/web");
    const exec = await run(old, ["--kubeconfig", kubeconfig, "exec", "web", "-n", "default", "--", "true"]);
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toContain("kubectl 1.30 or newer");
  });

  it("applies and patches objects with kubectl apply", async () => {
    const file = join(stack.home, "cm.yaml");
    writeFileSync(
      file,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: default\ndata:\n  mode: blue\n",
    );
    const created = await kubectl(["apply", "-f", file]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("configmap/app-config created");
    writeFileSync(
      file,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: default\ndata:\n  mode: green\n",
    );
    const updated = await kubectl(["apply", "-f", file]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toContain("configmap/app-config configured");
    const got = await kubectl([
      "get",
      "configmap",
      "app-config",
      "-n",
      "default",
      "-o",
      "jsonpath={.data.mode}",
    ]);
    expect(got.stdout).toBe("green");
  });

  it("refuses delete namespace prod with a Status kubectl prints, naming the rule", async () => {
    fake.reset();
    const res = await kubectl(["delete", "namespace", "prod"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Error from server (Forbidden)");
    expect(res.stderr).toContain("the prod namespace cannot be deleted through Sluice");
    expect(fake.requests.some((r) => r.verb === "delete")).toBe(false);
    const ns = await kubectl(["get", "namespace", "prod", "-o", "name"]);
    expect(ns.stdout.trim()).toBe("namespace/prod");
  });

  it("returns Secrets with their values redacted, in -o yaml, -o json and lists", async () => {
    for (const args of [
      ["get", "secret", "db", "-n", "default", "-o", "yaml"],
      ["get", "secrets", "-n", "default", "-o", "json"],
    ]) {
      const res = await kubectl(args);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).not.toContain(Buffer.from("hunter2-prod").toString("base64"));
      expect(res.stdout).toContain(Buffer.from("[redacted by Sluice]").toString("base64"));
    }
    const decoded = await kubectl([
      "get",
      "secret",
      "db",
      "-n",
      "default",
      "-o",
      "jsonpath={.data.password}",
    ]);
    expect(Buffer.from(decoded.stdout, "base64").toString()).toBe("[redacted by Sluice]");
  });

  it("judges a create by the name in its body", async () => {
    const ok = await kubectl(["create", "namespace", "staging"]);
    expect(ok.code, ok.stderr).toBe(0);
    const refused = await kubectl(["create", "namespace", "prod-2"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("Error from server (Forbidden)");
    expect(refused.stderr).toContain("no-new-prod");
  });

  it("hides what a deny rule covers from lists, and refuses it by name", async () => {
    const list = await kubectl(["get", "secrets", "-n", "default", "-o", "name"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain("secret/db");
    expect(list.stdout).not.toContain("break-glass");
    const table = await kubectl(["get", "secrets", "-n", "default"]);
    expect(table.stdout).toMatch(/^db\s/m);
    expect(table.stdout).not.toContain("break-glass");
    const one = await kubectl(["get", "secret", "break-glass-admin", "-n", "default"]);
    expect(one.code).not.toBe(0);
    expect(one.stderr).toContain("Error from server (Forbidden)");
  });

  it("passes ConfigMap values through the connection's content detectors", async () => {
    const res = await kubectl(["get", "configmap", "contacts", "-n", "default", "-o", "json"]);
    expect(res.code, res.stderr).toBe(0);
    const data = JSON.parse(res.stdout).data;
    expect(data.team).toBe("payments");
    expect(data.owner).not.toContain("ops-lead@example.com");
  });

  it("refuses kubectl --as unless policy allows impersonation", async () => {
    const res = await kubectl(["--as", "admin@example.com", "get", "pods", "-n", "default"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Error from server (Forbidden)");
    expect(res.stderr).toContain("impersonation (kubectl --as) is not allowed through Sluice");
  });

  it("runs exec with its output and exit code, and records it for replay", async () => {
    const res = await kubectl([
      "exec",
      "web",
      "-n",
      "default",
      "--",
      "sh",
      "-c",
      "echo from-the-pod; exit 3",
    ]);
    expect(res.stdout).toContain("from-the-pod");
    expect(res.code).toBe(3);
    const sid = await lastSession();
    await eventually(async () => (await eventsOf(sid)).some((e) => e.kind === "kube.exit"), 10_000);
    const events = await eventsOf(sid);
    expect(events.find((e) => e.kind === "kube.exec")?.payload).toMatchObject({
      namespace: "default",
      pod: "web",
      command: ["sh", "-c", "echo from-the-pod; exit 3"],
    });
    expect(events.find((e) => e.kind === "kube.exit")?.payload).toMatchObject({ code: 3 });
    expect(
      events.filter((e) => e.kind === "kube.data" && e.payload.stream === "o").map((e) => e.payload.data),
    ).toContain("from-the-pod\n");
    const replay = await sluice(["sessions", "replay", sid, "--speed", "100"], devKey);
    expect(replay.stdout).toContain("from-the-pod");
    expect(replay.stdout).toContain("exit status 3");
  });

  it("holds exec in prod for review while kubectl waits, then runs it once approved", async () => {
    const pending = kubectl(["exec", "web", "-n", "prod", "--", "echo", "approved-run"], 120_000);
    const review = await eventually(async () => {
      const res = await stack.api("/api/v1/reviews?status=pending", { key: reviewerKey });
      return res.body.items?.[0] as { id: string; statement: string } | undefined;
    }, 30_000);
    expect(review.statement).toBe("create pods/exec prod/web -c app -- echo approved-run");
    const approved = await sluice(["reviews", "approve", review.id, "--comment", "INC-12"], reviewerKey);
    expect(approved.code, approved.stderr).toBe(0);
    const done = await pending;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain("approved-run");
  });

  it("runs exec -it with typed input and a resize, recorded as a replayable terminal", async () => {
    // kubectl needs a terminal for -t: `script` gives it one, as a person's shell would.
    const child = spawn(
      "script",
      ["-qfec", `${KUBECTL} --kubeconfig ${kubeconfig} exec -it web -n default -- sh`, "/dev/null"],
      { env: { ...process.env, TERM: "xterm" } },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    fake.resizes.length = 0;
    await eventually(
      async () => fake.requests.some((r) => r.subresource === "exec" && r.status === 101),
      15_000,
    );
    child.stdin.write("stty cols 100 rows 30; echo typed-$((6*7))\n");
    await eventually(async () => out.includes("typed-42"), 15_000);
    child.stdin.write("exit 5\n");
    expect(await exited).toBe(5);
    const sid = await lastSession();
    await eventually(async () => (await eventsOf(sid)).some((e) => e.kind === "kube.exit"), 10_000);
    const events = await eventsOf(sid);
    expect(events.find((e) => e.kind === "kube.exec")?.payload).toMatchObject({ tty: true, command: ["sh"] });
    const output = events
      .filter((e) => e.kind === "kube.data" && e.payload.stream === "o")
      .map((e) => e.payload.data);
    expect(output.join("")).toContain("typed-42");
    expect(events.some((e) => e.kind === "kube.resize")).toBe(true);
    expect(events.find((e) => e.kind === "kube.exit")?.payload).toMatchObject({ code: 5 });
  });

  it("follows logs as lines arrive (logs -f)", async () => {
    const child = spawn(KUBECTL, ["--kubeconfig", kubeconfig, "logs", "-f", "web", "-n", "default"]);
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    try {
      await eventually(async () => fake.requests.some((r) => r.subresource === "log"), 15_000);
      fake.appendLog("default", "web", "first line from the app\n");
      await eventually(async () => out.includes("first line from the app"), 10_000);
      fake.appendLog("default", "web", "second line\n");
      await eventually(async () => out.includes("second line"), 10_000);
    } finally {
      child.kill();
    }
  });

  it("watches pods (get -w) and sees a change made meanwhile", async () => {
    const child = spawn(KUBECTL, ["--kubeconfig", kubeconfig, "get", "pods", "-n", "default", "-w"]);
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    try {
      await eventually(async () => out.includes("web"), 15_000);
      fake.seed({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "worker", namespace: "default" },
        spec: { containers: [{ name: "app", image: "busybox" }] },
      });
      await eventually(async () => out.includes("worker"), 10_000);
    } finally {
      child.kill();
    }
  });

  it("copies a file into a pod and back with kubectl cp", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-kcp-"));
    try {
      writeFileSync(join(dir, "notes.txt"), "copied through Sluice\n");
      const up = await kubectl(["cp", join(dir, "notes.txt"), `default/web:${dir}/in-pod.txt`]);
      expect(up.code, up.stderr).toBe(0);
      const down = await kubectl(["cp", `default/web:${dir}/in-pod.txt`, join(dir, "back.txt")]);
      expect(down.code, down.stderr).toBe(0);
      expect(readFileSync(join(dir, "back.txt"), "utf8")).toBe("copied through Sluice\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("works with the kubeconfig sluice kube login writes: kubectl runs the credential plugin", async () => {
    const file = join(stack.home, "kubeconfig-login");
    const env = {
      SLUICE_URL: stack.cp.apiUrl,
      SLUICE_API_KEY: devKey,
      SLUICE_CONFIG_DIR: join(stack.home, "cli-login"),
    };
    const login = await run(
      process.execPath,
      [cliPath, "kube", "login", CONN, "--kubeconfig", file, "--use"],
      env,
    );
    expect(login.code, login.stderr).toBe(0);
    expect(readFileSync(file, "utf8")).not.toContain(devKey);
    const res = await run(KUBECTL, ["--kubeconfig", file, "get", "pods", "-n", "default", "-o", "name"], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain("pod/web");
  });

  it("serves the kube MCP tool with the same policy and redaction", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [cliPath, "mcp"],
      env: {
        ...(process.env as Record<string, string>),
        SLUICE_URL: stack.cp.apiUrl,
        SLUICE_API_KEY: devKey,
        SLUICE_CONFIG_DIR: join(stack.home, "cli-mcp"),
      },
      stderr: "pipe",
    });
    const mcp = new Client({ name: "e2e-assistant", version: "1.0.0" });
    await mcp.connect(transport);
    try {
      const call = async (args: Record<string, unknown>) =>
        (await mcp.callTool({ name: "kube", arguments: { connection: CONN, ...args } })) as {
          structuredContent?: { status: number; body: string };
          isError?: boolean;
        };
      const secret = await call({ path: "/api/v1/namespaces/default/secrets/db" });
      expect(secret.structuredContent?.status).toBe(200);
      expect(JSON.parse(secret.structuredContent?.body ?? "{}").data.password).toBe(
        Buffer.from("[redacted by Sluice]").toString("base64"),
      );
      const denied = await call({ method: "DELETE", path: "/api/v1/namespaces/prod" });
      expect(denied.structuredContent?.status).toBe(403);
      expect(denied.structuredContent?.body).toContain("the prod namespace cannot be deleted through Sluice");
    } finally {
      await mcp.close();
    }
  });
  it("forwards a local port to the pod (port-forward), counted in the recording", async () => {
    const echo = createServer((socket) => socket.on("data", (d) => socket.write(`echo:${d}`)));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const echoPort = (echo.address() as { port: number }).port;
    const child = spawn(KUBECTL, [
      "--kubeconfig",
      kubeconfig,
      "port-forward",
      "-n",
      "default",
      "pod/web",
      `:${echoPort}`,
    ]);
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    try {
      const local = await eventually(async () => {
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        return m ? Number(m[1]) : undefined;
      }, 15_000).catch((err: Error) => {
        throw new Error(`${err.message}; kubectl said: ${out}`);
      });
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(local, "127.0.0.1", () => socket.write("ping"));
        socket.on("data", (d) => {
          resolve(d.toString());
          socket.destroy();
        });
        socket.on("error", reject);
      });
      expect(reply, out).toBe("echo:ping");
    } finally {
      child.kill();
      echo.close();
    }
    const sid = await lastSession();
    await eventually(async () => (await eventsOf(sid)).some((e) => e.kind === "kube.stream.end"), 10_000);
    const events = await eventsOf(sid);
    expect(events.find((e) => e.kind === "kube.portforward")?.payload).toMatchObject({
      namespace: "default",
      pod: "web",
    });
  });
});
