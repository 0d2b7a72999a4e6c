/**
 * Running the real kubectl against a fake cluster in tests. kubectl binaries are called by their
 * exact version (the `/usr/bin/kubectl` dispatcher would pick one by server version).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FakeKube, writeKubeconfig } from "./fake-kube";

const SDK_BIN = "/usr/lib/google-cloud-sdk/bin";
/** Newest kubectl here: WebSocket exec/attach/cp. */
export const KUBECTL = `${SDK_BIN}/kubectl.1.33`;
/** Oldest kubectl here: SPDY streams, aggregated discovery v2beta1. */
export const KUBECTL_OLD = `${SDK_BIN}/kubectl.1.27`;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface KubectlEnv {
  dir: string;
  kubeconfig: string;
  /** Writes another kubeconfig (say, for a second user's token) and returns its path. */
  kubeconfigFor(token: string, name: string): string;
  run(
    args: string[],
    opts?: { bin?: string; input?: string; kubeconfig?: string; timeoutMs?: number },
  ): Promise<RunResult>;
  /** Starts a long-running kubectl (watch, logs -f); read `output()` and call `stop()`. */
  start(
    args: string[],
    opts?: { bin?: string },
  ): { output(): string; waitFor(re: RegExp, ms?: number): Promise<void>; stop(): Promise<void> };
  cleanup(): void;
}

export function createKubectlEnv(fake: FakeKube): KubectlEnv {
  const dir = mkdtempSync(join(tmpdir(), "sluice-kubectl-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeKubeconfig(kubeconfig, { server: fake.url, caPem: fake.caPem, token: fake.token });
  // HOME in the temp dir keeps kubectl's discovery cache out of the real home directory.
  const env = { ...process.env, HOME: dir, KUBECONFIG: kubeconfig };
  const spawnKubectl = (args: string[], bin: string, config: string) =>
    spawn(bin, args, { env: { ...env, KUBECONFIG: config }, stdio: ["pipe", "pipe", "pipe"] });

  return {
    dir,
    kubeconfig,
    kubeconfigFor(token, name) {
      const path = join(dir, `kubeconfig-${name}`);
      writeKubeconfig(path, { server: fake.url, caFile: fake.caFile, token, context: name });
      return path;
    },
    run(args, opts = {}) {
      const child = spawnKubectl(args, opts.bin ?? KUBECTL, opts.kubeconfig ?? kubeconfig);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      child.stdin.end(opts.input ?? "");
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
      return new Promise((resolve) => {
        child.once("close", (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    start(args, opts = {}) {
      const child = spawnKubectl(args, opts.bin ?? KUBECTL, kubeconfig);
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        out += c.toString();
      });
      const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
      return {
        output: () => out,
        async waitFor(re, ms = 10_000) {
          const deadline = Date.now() + ms;
          while (!re.test(out)) {
            if (Date.now() > deadline)
              throw new Error(`kubectl ${args.join(" ")} never printed ${re}; got:\n${out}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        async stop() {
          child.kill("SIGTERM");
          await closed;
        },
      };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One raw HTTPS request to the fake, for asserting exact bodies kubectl would reword. */
export function rawRequest(
  fake: FakeKube,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${fake.url}${path}`, { method, headers, ca: fake.caPem }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs a shell command (kubectl) under `script`, so it has a local terminal; answers prompts in order. */
export function runWithTerminal(
  kubectl: Pick<KubectlEnv, "dir" | "kubeconfig">,
  command: string,
  steps: { wait: RegExp; send: string }[],
): Promise<{ code: number | null; out: string }> {
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    env: { ...process.env, HOME: kubectl.dir, KUBECONFIG: kubectl.kubeconfig },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let step = 0;
  const advance = () => {
    const next = steps[step];
    if (next && next.wait.test(out)) {
      step += 1;
      child.stdin.write(next.send);
      advance();
    }
  };
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    advance();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
