/**
 * The Kubernetes bench's one fixture, as `tests/e2e/src/kubernetes.test.ts` sets it up: the
 * fake API server (`kube-fake-server.ts`, own process), a real control plane and a real agent
 * (`tests/e2e/src/stack.ts`: separate processes, a throwaway database on the local
 * PostgreSQL, Redis, gRPC/TLS link), two `kubernetes` connections to the fake — one without a
 * policy, one with guardrails and email masking — and a kubeconfig per target. Everything is
 * stopped and removed by `cleanup()` (bench/lib/proc.ts), also on Ctrl-C.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { writeKubeconfig } from "../../packages/testkit/src/kube/kubeconfig";
import { type AgentProcess, type Stack, startStack } from "../../tests/e2e/src/stack";
import { type Started, startNode } from "./http-run";
import { registerFinalizer, registerTemp, run, waitFor } from "./proc";

export const KUBECTL = process.env.KUBECTL ?? "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
export const LIST_NAMESPACE = "bench";

export interface KubeTarget {
  name: string;
  /** `https://host:port` plus the connection's path prefix for Sluice targets. */
  base: string;
  token: string;
  caPem: string;
  kubeconfig: string;
  /** kubectl's discovery cache for this target (kept between runs, as a user's is). */
  cacheDir: string;
  detail: string;
}

export interface KubeFixture {
  targets: KubeTarget[];
  fake: Started;
  agent: AgentProcess;
  stack: Stack;
}

const CONNECTIONS = [
  { target: "sluice", name: "bench-kube", policy: false },
  { target: "sluice-policy", name: "bench-kube-policy", policy: true },
] as const;

async function createPolicy(stack: Stack): Promise<string> {
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "bench-kube-safety",
      guardrails: [
        {
          name: "keep-prod",
          kube: { verbs: ["delete"], resources: ["namespaces"], names: ["prod"] },
          message: "the prod namespace cannot be deleted through Sluice",
        },
        { name: "no-break-glass", kube: { resources: ["secrets"], names: ["break-glass-*"] } },
      ],
      masking: [{ name: "emails", detector: "email", action: "redact" }],
    },
  });
  if (policy.status !== 201) throw new Error(`create policy: ${policy.text}`);
  return policy.body.id as string;
}

/** What each target must do before it is measured: answer, redact the Secret, enforce its policy. */
async function check(t: KubeTarget, policy: boolean): Promise<void> {
  const res = await run(
    KUBECTL,
    [
      "--kubeconfig",
      t.kubeconfig,
      "--cache-dir",
      t.cacheDir,
      ...["get", "secret", "db", "-n", "default", "-o", "jsonpath={.data.password}"],
    ],
    { timeoutMs: 60_000 },
  );
  if (res.code !== 0) throw new Error(`${t.name}: kubectl get secret failed: ${res.stderr.slice(-500)}`);
  const password = Buffer.from(res.stdout, "base64").toString();
  const redacted = password === "[redacted by Sluice]";
  if (t.name === "direct" ? password !== "hunter2-prod" : !redacted)
    throw new Error(`${t.name}: unexpected Secret value ${JSON.stringify(password)}`);
  if (!policy) return;
  const del = await run(
    KUBECTL,
    ["--kubeconfig", t.kubeconfig, "--cache-dir", t.cacheDir, "delete", "namespace", "prod"],
    { timeoutMs: 60_000 },
  );
  if (!del.stderr.includes("the prod namespace cannot be deleted through Sluice"))
    throw new Error(`${t.name}: delete namespace prod was not refused: ${del.stderr.slice(-500)}`);
}

export async function startKubeFixture(log: (s: string) => void, listPods: number): Promise<KubeFixture> {
  const home = mkdtempSync("/tmp/sluice-bench-kube-");
  registerTemp(home);
  log("kube: fake API server");
  const fake = await startNode(
    "kube-fake",
    "bench/lib/kube-fake-server.ts",
    ["--list-pods", String(listPods), "--list-namespace", LIST_NAMESPACE],
    {},
  );
  if (!fake.ready) throw new Error(`the fake API server did not start: ${fake.reason}`);
  const fakePort = Number(fake.info.port);
  const fakeToken = String(fake.info.token);
  const fakeCa = String(fake.info.caPem);

  log("kube: control plane (database, Redis, gRPC/TLS)");
  const stack = await startStack();
  registerFinalizer(() => stack.stop());
  registerTemp(stack.home);
  registerTemp(stack.pki.dir);
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  const key = await stack.userKey("bench@example.com", ["eng"]);
  const policyId = await createPolicy(stack);
  for (const c of CONNECTIONS) {
    const conn = await stack.api("/api/v1/connections", {
      method: "POST",
      body: {
        name: c.name,
        type: "kubernetes",
        host: "127.0.0.1",
        port: fakePort,
        credentialRef: "env:BENCH_KUBE_TOKEN",
        tls: { mode: "verify-full", caPem: fakeCa },
        allowedGroups: ["eng"],
        policyIds: c.policy ? [policyId] : [],
      },
    });
    if (conn.status !== 201) throw new Error(`create connection ${c.name}: ${conn.text}`);
  }
  const agentCa = (await stack.api("/api/v1/ca")).body.caPem as string;
  log("kube: agent");
  const agent = await stack.startAgent("kube-bench", { BENCH_KUBE_TOKEN: fakeToken });
  await agent.proc.waitForOutput(/kubernetes listener ready/, 30_000);

  const target = (name: string, server: string, token: string, caPem: string, detail: string) => {
    const kubeconfig = join(home, `${name}.kubeconfig`);
    writeKubeconfig(kubeconfig, { server, caPem, token, context: name });
    const cacheDir = join(home, `${name}-cache`);
    return { name, base: server, token, caPem, kubeconfig, cacheDir, detail };
  };
  const targets: KubeTarget[] = [
    target(
      "direct",
      `https://127.0.0.1:${fakePort}`,
      fakeToken,
      fakeCa,
      "straight to the fake API server over TLS with its admin token",
    ),
  ];
  for (const c of CONNECTIONS) {
    targets.push(
      target(
        c.target,
        `https://127.0.0.1:${agent.kubePort}/${c.name}`,
        key,
        agentCa,
        `agent Kubernetes listener (TLS, certificate from the control plane's CA), a Sluice API key as the bearer token, authorized by the control plane; the agent impersonates the user upstream with the fake's admin token (credentialRef env:), verifies the fake's certificate, redacts Secret values and records every request (spool, uploaded to the control plane)${c.policy ? "; policy: guardrails (delete namespace prod, secrets break-glass-*) and email masking, so pod and list bodies are read and scanned" : "; no policy"}`,
      ),
    );
  }
  for (const t of targets) {
    const policy = t.name === "sluice-policy";
    await waitFor(`${t.name} to answer kubectl`, 30_000, async () =>
      check(t, policy).then(
        () => true,
        (e: Error) => {
          log(`kube: ${e.message.split("\n")[0]} (retrying)`);
          return false;
        },
      ),
    );
  }
  return { targets, fake, agent, stack };
}
