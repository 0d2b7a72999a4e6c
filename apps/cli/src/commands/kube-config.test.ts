import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { execApiVersion, renderExecCredential } from "./kube/exec-credential";
import { type KubeEntry, kubeconfigPath, mergeKubeconfig, writeKubeconfig } from "./kube/kubeconfig";
import { selfLaunch } from "./kube/self-launch";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function entry(over: Partial<KubeEntry> = {}): KubeEntry {
  return {
    name: "sluice-prod",
    context: "sluice-prod",
    server: "https://agent.internal:6443/prod",
    caPem: CA,
    exec: {
      command: "/usr/bin/node",
      args: ["/opt/sluice/bin/sluice.js", "kube", "credential", "prod"],
      env: {},
    },
    use: false,
    ...over,
  };
}

const EXISTING = `# my clusters
apiVersion: v1
kind: Config
clusters:
  - name: minikube # local one
    cluster:
      server: https://192.168.49.2:8443
      certificate-authority: /home/me/.minikube/ca.crt
users:
  - name: minikube
    user:
      client-certificate: /home/me/.minikube/client.crt
      client-key: /home/me/.minikube/client.key
contexts:
  - name: minikube
    context:
      cluster: minikube
      user: minikube
      namespace: default
current-context: minikube
preferences: {}
`;

describe("kubeconfig merge", () => {
  it("adds cluster, user and context and keeps every other entry and comment", () => {
    const text = mergeKubeconfig(EXISTING, entry());
    const before = parse(EXISTING);
    const after = parse(text);
    expect(text).toContain("# my clusters");
    expect(text).toContain("# local one");
    expect(after.clusters[0]).toEqual(before.clusters[0]);
    expect(after.users[0]).toEqual(before.users[0]);
    expect(after.contexts[0]).toEqual(before.contexts[0]);
    expect(after["current-context"]).toBe("minikube");
    expect(after.preferences).toEqual({});
    expect(after.clusters[1]).toEqual({
      name: "sluice-prod",
      cluster: {
        server: "https://agent.internal:6443/prod",
        "certificate-authority-data": Buffer.from(CA).toString("base64"),
      },
    });
    expect(after.users[1].user.exec).toMatchObject({
      apiVersion: "client.authentication.k8s.io/v1",
      command: "/usr/bin/node",
      args: ["/opt/sluice/bin/sluice.js", "kube", "credential", "prod"],
      interactiveMode: "Never",
    });
    expect(after.contexts[1]).toEqual({
      name: "sluice-prod",
      context: { cluster: "sluice-prod", user: "sluice-prod" },
    });
  });

  it("updates its own entries in place, keeps a namespace set on its context, and --use switches", () => {
    const once = mergeKubeconfig(EXISTING, entry());
    const withNs = once.replace("user: sluice-prod\n", "user: sluice-prod\n      namespace: payments\n");
    const again = parse(
      mergeKubeconfig(
        withNs,
        entry({
          server: "https://other:6443/prod",
          use: true,
          exec: { ...entry().exec, env: { SLUICE_CONFIG_DIR: "/c" } },
        }),
      ),
    );
    expect(again.clusters.map((c: { name: string }) => c.name)).toEqual(["minikube", "sluice-prod"]);
    expect(again.users).toHaveLength(2);
    expect(again.contexts).toHaveLength(2);
    expect(again.clusters[1].cluster.server).toBe("https://other:6443/prod");
    expect(again.users[1].user.exec.env).toEqual([{ name: "SLUICE_CONFIG_DIR", value: "/c" }]);
    expect(again.contexts[1].context).toEqual({
      cluster: "sluice-prod",
      user: "sluice-prod",
      namespace: "payments",
    });
    expect(again["current-context"]).toBe("sluice-prod");
  });

  it("starts an empty or missing file, and names the context as asked", () => {
    const doc = parse(mergeKubeconfig("", entry({ context: "prod", use: true })));
    expect(doc).toMatchObject({ apiVersion: "v1", kind: "Config", "current-context": "prod" });
    expect(doc.contexts).toEqual([
      { name: "prod", context: { cluster: "sluice-prod", user: "sluice-prod" } },
    ]);
    expect(parse(mergeKubeconfig("clusters:\nusers: []\n", entry())).clusters).toHaveLength(1);
  });

  it("refuses a file it cannot understand instead of overwriting it", () => {
    expect(() => mergeKubeconfig("clusters: [\n", entry(), "/k")).toThrow(/\/k is not valid YAML/);
    expect(() => mergeKubeconfig("- a\n- b\n", entry(), "/k")).toThrow(/not a kubeconfig/);
    expect(() => mergeKubeconfig("clusters: 3\n", entry(), "/k")).toThrow(/"clusters" is not a list/);
  });

  it("writes mode 0600, creating the directory, and through a symlink", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-kubeconfig-"));
    const file = join(dir, "new", "config");
    await writeKubeconfig(file, entry());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const real = join(dir, "real-config");
    writeFileSync(real, EXISTING, { mode: 0o644 });
    symlinkSync(real, join(dir, "link"));
    await writeKubeconfig(join(dir, "link"), entry());
    expect(readFileSync(real, "utf8")).toContain("sluice-prod");
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it("picks --kubeconfig, else the first $KUBECONFIG path, else ~/.kube/config", () => {
    expect(kubeconfigPath("/x/k", { KUBECONFIG: "/a:/b" })).toBe("/x/k");
    expect(kubeconfigPath(undefined, { KUBECONFIG: ":/a:/b" })).toBe("/a");
    expect(kubeconfigPath(undefined, { HOME: "/home/me" })).toBe("/home/me/.kube/config");
  });
});

describe("how kubectl starts the CLI", () => {
  it("runs node with the script node ran, keeping loader flags and dropping the rest", () => {
    expect(
      selfLaunch({
        execPath: "/usr/bin/node",
        argv: ["/usr/bin/node", "dist/main.js", "kube"],
        execArgv: [],
        sea: false,
      }),
    ).toEqual({ command: "/usr/bin/node", args: [join(process.cwd(), "dist/main.js")] });
    expect(
      selfLaunch({
        execPath: "/n",
        argv: ["/n", "/src/main.ts"],
        execArgv: ["--inspect", "--require", "/tsx/preflight.cjs", "--import=file:///tsx/loader.mjs"],
        sea: false,
      }).args,
    ).toEqual(["--require", "/tsx/preflight.cjs", "--import=file:///tsx/loader.mjs", "/src/main.ts"]);
    expect(
      selfLaunch({ execPath: "/opt/sluice", argv: ["/opt/sluice", "/opt/sluice"], execArgv: [], sea: true }),
    ).toEqual({ command: "/opt/sluice", args: [] });
  });
});

describe("ExecCredential", () => {
  it("answers in the apiVersion kubectl asked for, with an RFC 3339 expiry in whole seconds", () => {
    const at = new Date("2026-12-07T21:10:05.987Z");
    const v1 = JSON.parse(renderExecCredential(execApiVersion(undefined), { token: "t", expiresAt: at }));
    expect(v1).toEqual({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      status: { token: "t", expirationTimestamp: "2026-12-07T21:10:05Z" },
    });
    const info = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1beta1",
      kind: "ExecCredential",
      spec: { interactive: false },
    });
    expect(execApiVersion(info)).toBe("client.authentication.k8s.io/v1beta1");
    expect(execApiVersion("{not json")).toBe("client.authentication.k8s.io/v1");
  });
});
