import { mkdir, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { beforeEach, describe, expect, it } from "vitest";
import {
  configDir,
  configFile,
  normalizeUrl,
  readKeyFromStdin,
  readStoredConfig,
  removeStoredConfig,
  resolveCredentials,
  writeStoredConfig,
} from "./config-store";
import { NOT_LOGGED_IN } from "./hints";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-config-"));
});

describe("config location", () => {
  it("uses SLUICE_CONFIG_DIR, then XDG_CONFIG_HOME, then ~/.config", () => {
    expect(configDir({ SLUICE_CONFIG_DIR: "/c", XDG_CONFIG_HOME: "/x", HOME: "/h" })).toBe("/c");
    expect(configDir({ XDG_CONFIG_HOME: "/x", HOME: "/h" })).toBe("/x/sluice");
    expect(configFile({ HOME: "/h" })).toBe("/h/.config/sluice/config.json");
  });
});

describe("stored config", () => {
  it("writes the file 0600 in a 0700 directory and reads it back", async () => {
    const env = { SLUICE_CONFIG_DIR: join(root, "nested", "sluice") };
    const file = await writeStoredConfig(env, { url: "http://cp:8080", apiKey: "slk_abc" });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(env.SLUICE_CONFIG_DIR)).mode & 0o777).toBe(0o700);
    expect(await readStoredConfig(env)).toEqual({ url: "http://cp:8080", apiKey: "slk_abc" });
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ url: "http://cp:8080", apiKey: "slk_abc" });
  });

  it("tightens an existing directory and replaces a loose file", async () => {
    const dir = join(root, "loose");
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, "config.json"), "{}", { mode: 0o644 });
    const file = await writeStoredConfig({ SLUICE_CONFIG_DIR: dir }, { url: "http://cp", apiKey: "k" });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("treats a missing file as not logged in and a broken one as a usage error", async () => {
    const env = { SLUICE_CONFIG_DIR: root };
    expect(await readStoredConfig(env)).toBeUndefined();
    await writeFile(join(root, "config.json"), "not json");
    await expect(readStoredConfig(env)).rejects.toMatchObject({ exitCode: 2 });
  });

  it("logout removes the file once", async () => {
    const env = { SLUICE_CONFIG_DIR: root };
    await writeStoredConfig(env, { url: "http://cp", apiKey: "k" });
    expect(await removeStoredConfig(env)).toBe(true);
    expect(await removeStoredConfig(env)).toBe(false);
  });
});

describe("resolveCredentials", () => {
  const stored = { url: "http://stored:8080", apiKey: "slk_stored" };

  it("lets SLUICE_API_KEY and SLUICE_URL override the stored values independently", () => {
    expect(resolveCredentials({}, stored)).toEqual({ ...stored, keySource: "config" });
    expect(resolveCredentials({ SLUICE_API_KEY: "slk_env" }, stored)).toEqual({
      url: "http://stored:8080",
      apiKey: "slk_env",
      keySource: "env",
    });
    expect(resolveCredentials({ SLUICE_URL: "https://env.example/" }, stored).url).toBe(
      "https://env.example",
    );
  });

  it("works from env alone, with the default URL", () => {
    expect(resolveCredentials({ SLUICE_API_KEY: "k" }, undefined).url).toBe("http://127.0.0.1:8080");
  });

  it("fails with the login hint and exit code 2 when there is no key", () => {
    expect(() => resolveCredentials({ SLUICE_API_KEY: "" }, undefined)).toThrow(NOT_LOGGED_IN);
    expect(() => resolveCredentials({}, undefined)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe("normalizeUrl", () => {
  it("keeps origin and prefix, drops trailing slash and /api/v1", () => {
    expect(normalizeUrl("http://cp:8080/")).toBe("http://cp:8080");
    expect(normalizeUrl("https://cp.example/sluice/api/v1/")).toBe("https://cp.example/sluice");
  });

  it("rejects other schemes and embedded credentials", () => {
    expect(() => normalizeUrl("cp:8080")).toThrow(/invalid control-plane URL/);
    expect(() => normalizeUrl("ftp://cp")).toThrow(/invalid control-plane URL/);
    expect(() => normalizeUrl("http://u:p@cp")).toThrow(/no credentials/);
  });
});

describe("readKeyFromStdin", () => {
  it("reads and trims the key", async () => {
    expect(await readKeyFromStdin(Readable.from(["slk_", "abc\n"]))).toBe("slk_abc");
  });

  it("rejects empty input and multiple words", async () => {
    await expect(readKeyFromStdin(Readable.from([]))).rejects.toThrow(/no API key on stdin/);
    await expect(readKeyFromStdin(Readable.from(["a b"]))).rejects.toThrow(/single line/);
  });
});
