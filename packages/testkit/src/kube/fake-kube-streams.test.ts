import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeKube, startFakeKubeApiServer } from "./fake-kube";
import { createKubectlEnv, KUBECTL, KUBECTL_OLD, type KubectlEnv, runWithTerminal } from "./kubectl.testing";

let fake: FakeKube;
let kubectl: KubectlEnv;
let scratch: string;

beforeAll(async () => {
  fake = await startFakeKubeApiServer();
  kubectl = createKubectlEnv(fake);
  scratch = mkdtempSync(join(tmpdir(), "sluice-kube-cp-"));
  fake.seed({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", labels: { app: "web" } },
    spec: {
      containers: [{ name: "main", image: "busybox:1.36", env: [{ name: "GREETING", value: "hola" }] }],
    },
  });
});

afterAll(async () => {
  await fake?.close();
  kubectl?.cleanup();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("exec, cp and logs with the newest kubectl (WebSocket v5)", () => {
  it("runs a command in the pod and passes its exit code through", async () => {
    const ok = await kubectl.run(["exec", "web", "--", "sh", "-c", 'echo "$GREETING from $HOSTNAME"']);
    expect(ok).toMatchObject({ code: 0, stdout: "hola from web\n" });
    const failed = await kubectl.run(["exec", "web", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toBe("oops\ncommand terminated with exit code 3\n");
    const missing = await kubectl.run(["exec", "web", "--", "no-such-binary"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('exec: "no-such-binary": executable file not found in $PATH');
  });

  it("feeds stdin to a non-interactive exec", async () => {
    const out = await kubectl.run(["exec", "-i", "web", "--", "tr", "a-z", "A-Z"], { input: "shout\n" });
    expect(out).toMatchObject({ code: 0, stdout: "SHOUT\n" });
  });

  it("gives exec -it a real terminal that follows the client's window size", async () => {
    fake.reset();
    const result = await runWithTerminal(kubectl, `stty cols 101 rows 33; ${KUBECTL} exec -it web -- sh`, [
      { wait: /[#$] $/m, send: "stty size; tty\n" },
      { wait: /\/dev\/pts\/\d+/, send: "exit 5\n" },
    ]);
    expect(result.out).toContain("33 101");
    expect(result.out).toContain("command terminated with exit code 5");
    expect(result.code).toBe(5);
    expect(fake.resizes).toContainEqual({ namespace: "default", pod: "web", width: 101, height: 33 });
    const exec = fake.requests.find((r) => r.subresource === "exec");
    expect(exec).toMatchObject({ verb: "create", status: 101, name: "web", namespace: "default" });
    expect(exec?.query).toContain("tty=true");
  });

  it("copies files into and out of the pod through tar", async () => {
    const local = join(scratch, "notes.txt");
    writeFileSync(local, "line one\nline two\n");
    const target = mkdtempSync(join(tmpdir(), "sluice-kube-pod-"));
    try {
      const up = await kubectl.run(["cp", local, `web:${target}/notes.txt`]);
      expect(up.code).toBe(0);
      expect(readFileSync(join(target, "notes.txt"), "utf8")).toBe("line one\nline two\n");
      const back = join(scratch, "back.txt");
      const down = await kubectl.run(["cp", `web:${target}/notes.txt`, back]);
      expect(down.code).toBe(0);
      expect(readFileSync(back, "utf8")).toBe("line one\nline two\n");
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  it("follows logs and sees lines appended meanwhile", async () => {
    fake.appendLog("default", "web", "booting\nready\n");
    const tail = await kubectl.run(["logs", "web", "--tail=1"]);
    expect(tail.stdout).toBe("ready\n");
    const follow = kubectl.start(["logs", "-f", "web"]);
    await follow.waitFor(/ready\n/);
    fake.appendLog("default", "web", "request served");
    await follow.waitFor(/request served\n/);
    await follow.stop();
    expect(follow.output()).toBe("booting\nready\nrequest served\n");
  });
});

describe.each([
  ["newest", KUBECTL],
  ["1.27", KUBECTL_OLD],
])("watch with kubectl %s", (_label, bin) => {
  it("get -w prints the change made while it watches", async () => {
    const watch = kubectl.start(["get", "pods", "-w"], { bin });
    await watch.waitFor(/^web\s+1\/1\s+Running/m);
    fake.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `late-${bin.slice(-4).replace(".", "")}`, namespace: "default" },
      spec: { containers: [{ name: "main", image: "busybox" }] },
    });
    await watch.waitFor(/^late-\d+\s+1\/1\s+Running/m);
    await watch.stop();
    const watches = fake.requests.filter((r) => r.verb === "watch" && r.resource === "pods");
    expect(watches.length).toBeGreaterThan(0);
  });
});
