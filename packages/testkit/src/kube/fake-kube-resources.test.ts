import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeKube, startFakeKubeApiServer } from "./fake-kube";
import { createKubectlEnv, KUBECTL, KUBECTL_OLD, type KubectlEnv, rawRequest } from "./kubectl.testing";

let fake: FakeKube;
let kubectl: KubectlEnv;

const podYaml = (name: string, image: string, envValue: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  containers:
  - name: main
    image: ${image}
    env:
    - {name: MODE, value: "${envValue}"}
`;

function manifest(name: string, text: string): string {
  const path = join(kubectl.dir, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(async () => {
  fake = await startFakeKubeApiServer();
  kubectl = createKubectlEnv(fake);
});

afterAll(async () => {
  await fake?.close();
  kubectl?.cleanup();
});

describe.each([
  ["newest", KUBECTL],
  ["1.27", KUBECTL_OLD],
])("kubectl %s against the fake API server", (label, bin) => {
  const pod = `web-${label.replace(".", "")}`;

  it("creates with apply, then updates the same object with apply", async () => {
    const file = manifest(`${pod}.yaml`, podYaml(pod, "nginx:1.27", "a"));
    const created = await kubectl.run(["apply", "-f", file], { bin });
    expect(created.stderr).toBe("");
    expect(created.stdout).toBe(`pod/${pod} created\n`);
    writeFileSync(file, podYaml(pod, "nginx:1.28", "b"));
    const updated = await kubectl.run(["apply", "-f", file], { bin });
    expect(updated.stdout).toBe(`pod/${pod} configured\n`);
    const got = await kubectl.run(["get", "pod", pod, "-o", "json"], { bin });
    const obj = JSON.parse(got.stdout);
    expect(obj.spec.containers[0]).toMatchObject({
      image: "nginx:1.28",
      env: [{ name: "MODE", value: "b" }],
    });
    expect(obj.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]).toContain(
      "nginx:1.28",
    );
    expect(Number(obj.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(obj.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("prints tables like a real cluster, wide too, and plain objects for -o yaml", async () => {
    const table = await kubectl.run(["get", "pods"], { bin });
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(table.stdout).toMatch(new RegExp(`${pod}\\s+1/1\\s+Running\\s+0\\s+\\d+s`));
    const wide = await kubectl.run(["get", "pod", pod, "-o", "wide"], { bin });
    expect(wide.stdout.split("\n")[0]).toMatch(/IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    expect(wide.stdout).toMatch(/10\.244\.0\.\d+\s+fake-node\s+<none>\s+<none>/);
    const yaml = await kubectl.run(["get", "pod", pod, "-o", "yaml"], { bin });
    expect(yaml.stdout).toMatch(/^apiVersion: v1\nkind: Pod\n/);
    expect(yaml.stdout).toContain("phase: Running");
  });

  it("patches with json, merge and strategic merge patches", async () => {
    const json = await kubectl.run(
      [
        "patch",
        "pod",
        pod,
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/labels/tier","value":"front"}]',
      ],
      { bin },
    );
    expect(json.stdout).toBe(`pod/${pod} patched\n`);
    await kubectl.run(
      ["patch", "pod", pod, "--type=merge", "-p", '{"metadata":{"annotations":{"note":"merged"}}}'],
      { bin },
    );
    // Strategic: the container list merges by name, so env survives the image change.
    await kubectl.run(
      ["patch", "pod", pod, "-p", '{"spec":{"containers":[{"name":"main","image":"nginx:1.29"}]}}'],
      { bin },
    );
    const obj = JSON.parse((await kubectl.run(["get", "pod", pod, "-o", "json"], { bin })).stdout);
    expect(obj.metadata.labels.tier).toBe("front");
    expect(obj.metadata.annotations.note).toBe("merged");
    expect(obj.spec.containers).toHaveLength(1);
    expect(obj.spec.containers[0]).toMatchObject({
      image: "nginx:1.29",
      env: [{ name: "MODE", value: "b" }],
    });
    const selected = await kubectl.run(["get", "pods", "-l", "tier=front", "-o", "name"], { bin });
    expect(selected.stdout).toBe(`pod/${pod}\n`);
  });

  it("applies server-side with a field manager and keeps generation for deployments", async () => {
    const name = `api-${label.replace(".", "")}`;
    const deploy = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: api, image: "example/api:1"}]
`;
    const file = manifest(`${name}.yaml`, deploy(2));
    expect((await kubectl.run(["apply", "--server-side", "-f", file], { bin })).stdout).toBe(
      `deployment.apps/${name} serverside-applied\n`,
    );
    writeFileSync(file, deploy(4));
    await kubectl.run(["apply", "--server-side", "-f", file], { bin });
    const obj = JSON.parse(
      (await kubectl.run(["get", "deploy", name, "-o", "json", "--show-managed-fields"], { bin })).stdout,
    );
    expect(obj.spec.replicas).toBe(4);
    expect(obj.metadata.generation).toBe(2);
    expect(obj.metadata.managedFields).toContainEqual(
      expect.objectContaining({ manager: "kubectl", operation: "Apply", fieldsType: "FieldsV1" }),
    );
    const table = await kubectl.run(["get", "deploy", name], { bin });
    expect(table.stdout).toMatch(new RegExp(`${name}\\s+4/4\\s+4\\s+4\\s+`));
    expect((await kubectl.run(["scale", "deploy", name, "--replicas=1"], { bin })).stdout).toBe(
      `deployment.apps/${name} scaled\n`,
    );
    const scaled = await kubectl.run(
      ["get", "deploy", name, "-o", "jsonpath={.spec.replicas} {.status.readyReplicas}"],
      { bin },
    );
    expect(scaled.stdout).toBe("1 1");
  });

  it("reports not found, already exists and conflicts in the API server's words", async () => {
    const missing = await kubectl.run(["get", "pod", "nope"], { bin });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error from server (NotFound): pods "nope" not found\n');
    const file = manifest(`${pod}-again.yaml`, podYaml(pod, "nginx:1.27", "a"));
    const again = await kubectl.run(["create", "-f", file], { bin });
    expect(again.stderr).toContain(
      `Error from server (AlreadyExists): error when creating "${file}": pods "${pod}" already exists`,
    );
    const stale = JSON.parse((await kubectl.run(["get", "pod", pod, "-o", "json"], { bin })).stdout);
    await kubectl.run(["label", "pod", pod, "bump=1"], { bin });
    const replaced = await kubectl.run(["replace", "-f", "-"], { bin, input: JSON.stringify(stale) });
    expect(replaced.stderr).toContain(
      `Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on pods "${pod}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  });

  it("deletes and the object is gone", async () => {
    const deleted = await kubectl.run(["delete", "pod", pod], { bin });
    expect(deleted.stdout).toBe(`pod "${pod}" deleted\n`);
    expect((await kubectl.run(["get", "pod", pod], { bin })).code).toBe(1);
  });
});

describe("API details kubectl relies on", () => {
  it("explains pods from the OpenAPI v3 document", async () => {
    const out = await kubectl.run(["explain", "pods.spec.containers"]);
    expect(out.stdout).toContain("KIND:       Pod");
    expect(out.stdout).toContain("FIELD: containers <[]Container>");
  });

  it("answers a not-found with the exact Status body", async () => {
    const res = await rawRequest(fake, "GET", "/api/v1/namespaces/default/pods/web", {
      Authorization: `Bearer ${fake.token}`,
    });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "web" not found',
      reason: "NotFound",
      details: { name: "web", kind: "pods" },
      code: 404,
    });
  });

  it("refuses bodies over the API server's 3 MiB limit", async () => {
    const big = JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "big" },
      data: { a: "x".repeat(3_200_000) },
    });
    const res = await rawRequest(
      fake,
      "POST",
      "/api/v1/namespaces/default/configmaps",
      { Authorization: `Bearer ${fake.token}`, "Content-Type": "application/json" },
      big,
    );
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).reason).toBe("RequestEntityTooLarge");
  });

  it("creates and lists secrets, configmaps and namespaces", async () => {
    expect((await kubectl.run(["create", "namespace", "prod"])).stdout).toBe("namespace/prod created\n");
    await kubectl.run(["-n", "prod", "create", "secret", "generic", "db", "--from-literal=password=s3cret"]);
    await kubectl.run([
      "-n",
      "prod",
      "create",
      "configmap",
      "cfg",
      "--from-literal=a=1",
      "--from-literal=b=2",
    ]);
    const secrets = await kubectl.run(["-n", "prod", "get", "secrets"]);
    expect(secrets.stdout).toMatch(/db\s+Opaque\s+1\s+\d+s/);
    const cms = await kubectl.run(["-n", "prod", "get", "cm", "cfg"]);
    expect(cms.stdout).toMatch(/cfg\s+2\s+\d+s/);
    const value = await kubectl.run(["-n", "prod", "get", "secret", "db", "-o", "jsonpath={.data.password}"]);
    expect(Buffer.from(value.stdout, "base64").toString()).toBe("s3cret");
    const namespaces = await kubectl.run(["get", "ns", "-o", "name"]);
    expect(namespaces.stdout.split("\n")).toEqual(
      expect.arrayContaining(["namespace/default", "namespace/prod"]),
    );
    expect((await kubectl.run(["delete", "ns", "prod"])).stdout).toBe('namespace "prod" deleted\n');
    expect((await kubectl.run(["-n", "prod", "get", "cm", "cfg"])).code).toBe(1);
  });
});
