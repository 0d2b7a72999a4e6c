import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { KubeWatchRedactor, redactKubeJson } from "./kube-body";
import { compileKubeGuard } from "./kube-guard";
import { kube, kubePolicy } from "./kube-guard.testing";
import { KubeBodyError, REDACTED_BASE64 } from "./kube-redact";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const event = (type: string, name: string) =>
  JSON.stringify({
    type,
    object: {
      kind: "Secret",
      apiVersion: "v1",
      metadata: { name, namespace: "team" },
      data: { pw: b64("hunter2") },
    },
  });

/** Feeds `chunks` through a redactor and returns what a client would read. */
async function run(redactor: KubeWatchRedactor, chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), redactor, async (source) => {
    for await (const chunk of source) out.push(Buffer.from(chunk));
  });
  return Buffer.concat(out).toString("utf8");
}

function chunked(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

describe("redactKubeJson", () => {
  it("redacts a whole Secret body and reports the count", () => {
    const body = JSON.stringify({ kind: "Secret", metadata: { name: "db" }, data: { pw: b64("hunter2") } });
    const { body: out, tally } = redactKubeJson(Buffer.from(body));
    expect(JSON.parse(out.toString())).toMatchObject({ data: { pw: REDACTED_BASE64 } });
    expect(out.toString()).not.toContain(b64("hunter2"));
    expect(tally.secretValues).toBe(1);
  });

  it("refuses a body that is not JSON (YAML, protobuf) with a clear error", () => {
    const yaml = "apiVersion: v1\nkind: Secret\ndata:\n  pw: aHVudGVyMg==\n";
    expect(() => redactKubeJson(yaml)).toThrow(KubeBodyError);
    expect(() => redactKubeJson(yaml)).toThrow(
      "the Kubernetes response is not JSON; Sluice cannot redact it",
    );
    expect(() => redactKubeJson(Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a]))).toThrow(/not JSON/);
  });

  it("refuses a body over the bound without reading it", () => {
    const big = JSON.stringify({ kind: "ConfigMap", data: { k: "x".repeat(2000) } });
    expect(() => redactKubeJson(big, {}, 1024)).toThrow(expect.objectContaining({ code: "too_large" }));
  });

  it("refuses objects nested deeper than it walks", () => {
    let doc: unknown = { kind: "Secret", data: { pw: "x" } };
    for (let i = 0; i < 12; i++) doc = { kind: "List", items: [doc] };
    expect(() => redactKubeJson(JSON.stringify(doc))).toThrow(expect.objectContaining({ code: "too_deep" }));
  });
});

describe("KubeWatchRedactor", () => {
  const stream = `${event("ADDED", "a")}\n${event("MODIFIED", "b")}\n${event("DELETED", "c")}\n`;

  it.each([1, 7, 64, 100_000])(
    "redacts every event when the stream arrives in %i-byte chunks",
    async (size) => {
      const text = await run(new KubeWatchRedactor(), chunked(stream, size));
      const lines = text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.type, l.object.metadata.name, l.object.data.pw])).toEqual([
        ["ADDED", "a", REDACTED_BASE64],
        ["MODIFIED", "b", REDACTED_BASE64],
        ["DELETED", "c", REDACTED_BASE64],
      ]);
      expect(text).not.toContain(b64("hunter2"));
    },
  );

  it("splits an event cut inside a multi-byte character", async () => {
    const line = `${JSON.stringify({ type: "ADDED", object: { kind: "ConfigMap", metadata: { name: "é" }, data: { k: "ü" } } })}\n`;
    const text = await run(new KubeWatchRedactor(), chunked(line, 1));
    expect(JSON.parse(text).object).toMatchObject({ metadata: { name: "é" }, data: { k: "ü" } });
  });

  it("reads a last event without a newline, and skips blank lines", async () => {
    const text = await run(new KubeWatchRedactor(), [Buffer.from(`\n\r\n${event("ADDED", "a")}`)]);
    expect(text.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("drops the events of items the rules hide", async () => {
    const guard = compileKubeGuard([kubePolicy("p", [{ name: "hide", kube: { names: ["b"] } }])]);
    const watch = kube("GET", "/api/v1/namespaces/team/secrets?watch=1");
    const redactor = new KubeWatchRedactor({ keepItem: (item) => guard.allowsItem(watch, item) });
    const text = await run(redactor, chunked(stream, 13));
    expect(
      text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).object.metadata.name),
    ).toEqual(["a", "c"]);
    expect(redactor.tally).toEqual({ secretValues: 3, maskedValues: 0, hiddenItems: 1 });
  });

  it("fails the stream on an event over the bound, even before its newline arrives", async () => {
    const redactor = new KubeWatchRedactor({ maxEvent: 256 });
    const big = `${JSON.stringify({ type: "ADDED", object: { kind: "ConfigMap", data: { k: "x".repeat(1000) } } })}`;
    await expect(run(redactor, chunked(big, 100))).rejects.toMatchObject({ code: "too_large" });
  });

  it("fails the stream on an event that is not JSON", async () => {
    await expect(
      run(new KubeWatchRedactor(), [Buffer.from(`${event("ADDED", "a")}\nnot json\n`)]),
    ).rejects.toThrow(/not JSON/);
  });
});
