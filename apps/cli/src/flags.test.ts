import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { CliError, ExitCode } from "./cli-error";
import {
  collectLabel,
  collectList,
  compact,
  intParser,
  mergeBody,
  parsePort,
  readArrayFile,
  readBodyFile,
  requireChanges,
  requireFields,
} from "./flags";

describe("flag parsers", () => {
  it("accepts ports 1-65535 only", () => {
    expect(parsePort("5432")).toBe(5432);
    for (const bad of ["abc", "0", "65536", "54.3", "-1", ""]) {
      expect(() => parsePort(bad)).toThrow(new InvalidArgumentError("must be a number from 1 to 65535"));
    }
  });

  it("checks whole numbers against a range", () => {
    expect(intParser(0, 10)("0")).toBe(0);
    expect(() => intParser(1, 10)("11")).toThrow("must be a whole number from 1 to 10");
    expect(() => intParser(1)("x")).toThrow(InvalidArgumentError);
  });

  it("collects repeated labels into a record and rejects bad ones", () => {
    const labels = collectLabel("tier=prod", collectLabel("segment=eu", undefined));
    expect(labels).toEqual({ segment: "eu", tier: "prod" });
    expect(collectLabel("empty=", undefined)).toEqual({ empty: "" });
    expect(collectLabel("url=a=b", undefined)).toEqual({ url: "a=b" });
    expect(() => collectLabel("segment", undefined)).toThrow("expected key=value");
    expect(() => collectLabel("=x", undefined)).toThrow("expected key=value");
    expect(() => collectLabel("tier=dev", labels)).toThrow('label "tier" is given twice');
  });

  it("collects repeated and comma-separated list flags", () => {
    expect(collectList("ops", collectList("dba, dev", undefined))).toEqual(["dba", "dev", "ops"]);
    expect(() => collectList(" , ", undefined)).toThrow("must not be empty");
  });
});

describe("request bodies", () => {
  it("drops flags that were not given and lets flags override the file", () => {
    expect(compact({ a: 1, b: undefined, c: null })).toEqual({ a: 1, c: null });
    expect(mergeBody({ name: "file", port: 1 }, { name: undefined, port: 2 })).toEqual({
      name: "file",
      port: 2,
    });
  });

  it("names every missing field with its flag", () => {
    expect(() => requireFields({ name: "x" }, { name: "<name>", host: "--host", port: "--port" })).toThrow(
      'missing --host (or "host" in --from-file), --port (or "port" in --from-file)',
    );
    expect(() => requireChanges({})).toThrow("nothing to update");
  });

  it("reads --from-file as a JSON object, with clear errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-flags-"));
    await writeFile(join(dir, "ok.json"), '{"name":"pg"}');
    await writeFile(join(dir, "bad.json"), "{nope");
    await writeFile(join(dir, "list.json"), "[1]");
    expect(await readBodyFile(join(dir, "ok.json"))).toEqual({ name: "pg" });
    expect(await readBodyFile(undefined)).toEqual({});
    await expect(readBodyFile(join(dir, "bad.json"))).rejects.toThrow(/is not valid JSON/);
    await expect(readBodyFile(join(dir, "list.json"))).rejects.toThrow("must hold a JSON object");
    await expect(readArrayFile(join(dir, "ok.json"), "--masking")).rejects.toThrow("must hold a JSON array");
    const missing = await readBodyFile(join(dir, "missing.json")).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CliError);
    expect((missing as CliError).exitCode).toBe(ExitCode.usage);
    expect((missing as CliError).message).toContain("ENOENT");
  });
});
