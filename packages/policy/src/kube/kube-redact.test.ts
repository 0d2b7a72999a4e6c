import { describe, expect, it } from "vitest";
import { compileKubeGuard } from "./kube-guard";
import { kube, kubePolicy } from "./kube-guard.testing";
import { emptyTally, LAST_APPLIED, REDACTED, REDACTED_BASE64, redactKubeBody } from "./kube-redact";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
/** A stand-in for the connection's content detectors: hides e-mail addresses. */
const maskEmails = (v: string) => v.replace(/[\w.]+@[\w.]+/g, "[email]");

function secret(name: string, withKind = true) {
  return {
    ...(withKind ? { apiVersion: "v1", kind: "Secret" } : {}),
    metadata: {
      name,
      namespace: "prod",
      annotations: {
        [LAST_APPLIED]: `${JSON.stringify({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace: "prod" },
          data: { password: b64("hunter2") },
          stringData: { token: "s3cr3t" },
        })}\n`,
      },
    },
    type: "Opaque",
    data: { password: b64("hunter2"), username: b64("admin") },
  };
}

/** Every string in the body, to prove that a value appears nowhere in it. */
function text(body: unknown): string {
  return JSON.stringify(body);
}

describe("secrets", () => {
  it("replaces every data value of a Secret with the placeholder, still base64", () => {
    const body = secret("db");
    const tally = emptyTally();
    redactKubeBody(body, {}, tally);
    expect(body.data).toEqual({ password: REDACTED_BASE64, username: REDACTED_BASE64 });
    expect(Buffer.from(body.data.password, "base64").toString()).toBe(REDACTED);
    expect(body.type).toBe("Opaque");
    expect(tally.secretValues).toBeGreaterThanOrEqual(2);
  });

  it("redacts the last-applied annotation as the Secret it holds, so kubectl apply still reads it", () => {
    const body = secret("db");
    redactKubeBody(body);
    const applied = JSON.parse(body.metadata.annotations[LAST_APPLIED]);
    expect(applied).toMatchObject({
      kind: "Secret",
      data: { password: REDACTED_BASE64 },
      stringData: { token: REDACTED },
    });
    expect(body.metadata.annotations[LAST_APPLIED].endsWith("\n")).toBe(true);
    expect(text(body)).not.toContain(b64("hunter2"));
    expect(text(body)).not.toContain("s3cr3t");
  });

  it("removes a last-applied annotation it cannot read from a Secret", () => {
    const body = {
      kind: "Secret",
      metadata: { name: "x", annotations: { [LAST_APPLIED]: "{broken password=hunter2" } },
    };
    redactKubeBody(body);
    expect(body.metadata.annotations).toEqual({});
  });

  it("redacts stringData and refuses data that is not a map", () => {
    const body: Record<string, unknown> = {
      kind: "Secret",
      stringData: { a: "clear" },
      data: "aHVudGVyMg==",
    };
    redactKubeBody(body);
    expect(body).toMatchObject({ stringData: { a: REDACTED }, data: {} });
  });

  it("redacts the items of a SecretList that carry no kind, as the API server sends them", () => {
    const body = {
      apiVersion: "v1",
      kind: "SecretList",
      metadata: {},
      items: [secret("a", false), secret("b", false)],
    };
    const tally = emptyTally();
    redactKubeBody(body, {}, tally);
    expect(body.items.map((i) => i.data.password)).toEqual([REDACTED_BASE64, REDACTED_BASE64]);
    expect(text(body)).not.toContain(b64("hunter2"));
    expect(tally.secretValues).toBeGreaterThanOrEqual(4);
  });

  it("redacts secrets inside a generic List by their own kind", () => {
    const body = {
      kind: "List",
      items: [secret("a"), { kind: "ConfigMap", metadata: { name: "c" }, data: { k: "v" } }],
    };
    redactKubeBody(body);
    expect(body.items[0]?.data).toEqual({ password: REDACTED_BASE64, username: REDACTED_BASE64 });
    expect(body.items[1]?.data).toEqual({ k: "v" });
  });

  it("treats a kind-less object as a Secret when the request was for secrets", () => {
    const body = { metadata: { name: "x" }, data: { k: b64("v") } };
    redactKubeBody(body, { resource: "secrets" });
    expect(body.data.k).toBe(REDACTED_BASE64);
  });

  it("redacts the objects of a Table (kubectl get with includeObject)", () => {
    const table = {
      kind: "Table",
      apiVersion: "meta.k8s.io/v1",
      columnDefinitions: [{ name: "Name", type: "string" }],
      rows: [{ cells: ["db", "Opaque", 2, "5d"], object: secret("db") }],
    };
    redactKubeBody(table);
    expect(table.rows[0]?.object.data.password).toBe(REDACTED_BASE64);
    expect(table.rows[0]?.cells).toEqual(["db", "Opaque", 2, "5d"]);
    expect(text(table)).not.toContain(b64("hunter2"));
  });

  it("redacts a Secret's last-applied annotation in a Table of metadata only", () => {
    const s = secret("db");
    const partial = { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: s.metadata };
    const table = { kind: "Table", rows: [{ cells: ["db"], object: partial }] };
    redactKubeBody(table);
    expect(text(table)).not.toContain(b64("hunter2"));
    expect(text(table)).not.toContain("s3cr3t");
  });

  it("redacts a kind-less last-applied annotation on the metadata-only rows and lists of a secrets request", () => {
    const applied = JSON.stringify({ stringData: { password: "s3cr3t-no-kind" } });
    const meta = { name: "db", namespace: "prod", annotations: { [LAST_APPLIED]: applied } };
    const table = {
      kind: "Table",
      rows: [{ cells: ["db"], object: { kind: "PartialObjectMetadata", metadata: structuredClone(meta) } }],
    };
    redactKubeBody(table, { resource: "secrets" });
    expect(text(table)).not.toContain("s3cr3t-no-kind");
    const list = { kind: "PartialObjectMetadataList", items: [{ metadata: structuredClone(meta) }] };
    redactKubeBody(list, { resource: "secrets" });
    expect(text(list)).not.toContain("s3cr3t-no-kind");
    // The same annotation on a ConfigMap's metadata-only row is not a secret.
    const cm = {
      kind: "Table",
      rows: [{ cells: ["c"], object: { kind: "PartialObjectMetadata", metadata: structuredClone(meta) } }],
    };
    redactKubeBody(cm, { resource: "configmaps" });
    expect(text(cm)).toContain("s3cr3t-no-kind");
  });

  it("redacts the Secret of a watch event and passes a Status through", () => {
    const event = { type: "MODIFIED", object: secret("db") };
    expect(redactKubeBody(event)).toBe(true);
    expect(event.object.data.password).toBe(REDACTED_BASE64);
    const status = {
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message: 'secrets "x" not found',
      code: 404,
    };
    const copy = structuredClone(status);
    redactKubeBody(status);
    expect(status).toEqual(copy);
  });
});

describe("masked values", () => {
  it("passes ConfigMap data and binaryData through the connection's detectors", () => {
    const body = {
      kind: "ConfigMap",
      metadata: { name: "app" },
      data: { owner: "ops@example.com", level: "debug" },
      binaryData: {
        contact: b64("mail bob@example.com"),
        blob: Buffer.from([0xff, 0xfe, 0x00]).toString("base64"),
      },
    };
    const tally = emptyTally();
    redactKubeBody(body, { mask: maskEmails }, tally);
    expect(body.data).toEqual({ owner: "[email]", level: "debug" });
    expect(Buffer.from(body.binaryData.contact, "base64").toString()).toBe("mail [email]");
    expect(body.binaryData.blob).toBe(Buffer.from([0xff, 0xfe, 0x00]).toString("base64"));
    expect(tally).toEqual({ secretValues: 0, maskedValues: 2, hiddenItems: 0 });
  });

  it("masks container env values of pods, deployments and cron jobs, and their last-applied copy", () => {
    const podSpec = {
      containers: [
        {
          name: "app",
          env: [
            { name: "ADMIN", value: "root@example.com" },
            { name: "SECRET", valueFrom: {} },
          ],
        },
      ],
      initContainers: [{ name: "init", env: [{ name: "X", value: "a@b.io" }] }],
    };
    const deployment = {
      kind: "Deployment",
      metadata: {
        name: "web",
        annotations: {
          [LAST_APPLIED]: JSON.stringify({ kind: "Deployment", spec: { template: { spec: podSpec } } }),
        },
      },
      spec: { template: { spec: structuredClone(podSpec) } },
    };
    const cron = {
      kind: "CronJob",
      spec: { jobTemplate: { spec: { template: { spec: structuredClone(podSpec) } } } },
    };
    const pod = { kind: "Pod", spec: structuredClone(podSpec) };
    for (const body of [deployment, cron, pod]) redactKubeBody(body, { mask: maskEmails });
    expect(text([deployment, cron, pod])).not.toMatch(/example\.com|a@b\.io/);
    expect(pod.spec.containers[0]?.env[0]).toEqual({ name: "ADMIN", value: "[email]" });
  });

  it("leaves everything but secrets as it was without a mask callback", () => {
    const body = { kind: "ConfigMap", data: { owner: "ops@example.com" } };
    redactKubeBody(body);
    expect(body.data.owner).toBe("ops@example.com");
  });
});

describe("item filtering", () => {
  const guard = compileKubeGuard([
    kubePolicy("p", [{ name: "hide-prod", kube: { resources: ["secrets"], names: ["prod-*"] } }]),
  ]);
  const list = kube("GET", "/api/v1/namespaces/team/secrets");
  const keepItem = (item: { namespace?: string; name: string }) => guard.allowsItem(list, item);

  it("drops the list items the rules hide and counts them", () => {
    const body = { kind: "SecretList", items: [secret("prod-db", false), secret("dev-db", false)] };
    const tally = emptyTally();
    redactKubeBody(body, { keepItem }, tally);
    expect(body.items.map((i) => i.metadata.name)).toEqual(["dev-db"]);
    expect(tally.hiddenItems).toBe(1);
  });

  it("drops hidden rows of a Table, and a watch event of a hidden item", () => {
    const table = {
      kind: "Table",
      rows: [
        {
          cells: ["prod-db"],
          object: { kind: "PartialObjectMetadata", metadata: { name: "prod-db", namespace: "team" } },
        },
        {
          cells: ["dev-db"],
          object: { kind: "PartialObjectMetadata", metadata: { name: "dev-db", namespace: "team" } },
        },
      ],
    };
    redactKubeBody(table, { keepItem });
    expect(table.rows.map((r) => r.cells[0])).toEqual(["dev-db"]);
    expect(redactKubeBody({ type: "ADDED", object: secret("prod-db") }, { keepItem })).toBe(false);
    expect(redactKubeBody({ type: "ADDED", object: secret("dev-db") }, { keepItem })).toBe(true);
    expect(
      redactKubeBody(
        { type: "BOOKMARK", object: { kind: "Secret", metadata: { resourceVersion: "9" } } },
        { keepItem },
      ),
    ).toBe(true);
  });

  it("hides an item it cannot name", () => {
    const body = { kind: "SecretList", items: [{ data: {} }] };
    redactKubeBody(body, { keepItem });
    expect(body.items).toEqual([]);
  });
});
