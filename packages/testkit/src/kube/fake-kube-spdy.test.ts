import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeKube, startFakeKubeApiServer } from "./fake-kube";
import { createKubectlEnv, KUBECTL, KUBECTL_OLD, type KubectlEnv, runWithTerminal } from "./kubectl.testing";

let fake: FakeKube;
let kubectl: KubectlEnv;
let echo: Server;
let echoPort: number;

beforeAll(async () => {
  fake = await startFakeKubeApiServer();
  kubectl = createKubectlEnv(fake);
  fake.seed({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: { containers: [{ name: "main", image: "busybox:1.36" }] },
  });
  // What "the pod" listens on: the fake's pods share this host's network.
  echo = createServer((socket) => socket.on("data", (d) => socket.write(`echo:${d}`)));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  echoPort = (echo.address() as AddressInfo).port;
});

afterAll(async () => {
  await fake?.close();
  kubectl?.cleanup();
  echo?.close();
});

describe("exec and cp with kubectl 1.27 (SPDY/3.1)", () => {
  it("runs a command, passes stdin and the exit code through", async () => {
    const failed = await kubectl.run(["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 7"], {
      bin: KUBECTL_OLD,
    });
    expect(failed).toMatchObject({
      code: 7,
      stdout: "out\n",
      stderr: "err\ncommand terminated with exit code 7\n",
    });
    const upper = await kubectl.run(["exec", "-i", "web", "--", "tr", "a-z", "A-Z"], {
      bin: KUBECTL_OLD,
      input: "quiet\n",
    });
    expect(upper).toMatchObject({ code: 0, stdout: "QUIET\n" });
    const spdy = fake.requests.filter((r) => r.subresource === "exec" && r.headers.upgrade === "SPDY/3.1");
    expect(spdy.length).toBe(2);
  });

  it("gives exec -it a terminal with the client's size", async () => {
    fake.reset();
    const result = await runWithTerminal(kubectl, `stty cols 91 rows 21; ${KUBECTL_OLD} exec -it web -- sh`, [
      { wait: /[#$] $/m, send: "stty size\n" },
      { wait: /21 91/, send: "exit\n" },
    ]);
    expect(result.code).toBe(0);
    expect(fake.resizes).toContainEqual({ namespace: "default", pod: "web", width: 91, height: 21 });
  });

  it("copies a file into the pod", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-kube-spdy-cp-"));
    try {
      writeFileSync(join(dir, "src.txt"), "spdy copy\n");
      const up = await kubectl.run(["cp", join(dir, "src.txt"), `web:${dir}/dst.txt`], { bin: KUBECTL_OLD });
      expect(up.code).toBe(0);
      expect(readFileSync(join(dir, "dst.txt"), "utf8")).toBe("spdy copy\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each([
  ["newest (SPDY tunnelled in WebSocket)", KUBECTL],
  ["1.27 (SPDY upgrade)", KUBECTL_OLD],
])("port-forward with kubectl %s", (_label, bin) => {
  it("carries a TCP connection to the pod's port", async () => {
    const pf = kubectl.start(["port-forward", "pod/web", `:${echoPort}`], { bin });
    try {
      await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+)/);
      const local = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(pf.output())?.[1]);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(local, "127.0.0.1", () => socket.write("ping"));
        socket.on("data", (d) => {
          resolve(d.toString());
          socket.destroy();
        });
        socket.on("error", reject);
      });
      expect(reply).toBe("echo:ping");
    } finally {
      await pf.stop();
    }
  });
});

describe("attach", () => {
  it("joins the pod's main process, which outlives the client", async () => {
    const first = kubectl.start(["attach", "-i", "web"]);
    await first.waitFor(/If you don't see a command prompt/);
    await first.stop();
    const result = await kubectl.run(["attach", "-i", "web"], {
      input: "echo attached-$((40+2))\nexit 0\n",
      timeoutMs: 15_000,
    });
    expect(result.stdout).toContain("attached-42");
    expect(result.code).toBe(0);
  });
});
