import { describe, expect, it } from "vitest";
import { createMemoryIo } from "../fake-control-plane.testing";
import { runCli } from "../run";

async function config(args: string[], env: Record<string, string>) {
  const io = createMemoryIo({ SLUICE_CONFIG_DIR: "/nonexistent/sluice", ...env }, "");
  const code = await runCli(["mcp", "config", ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe("sluice mcp config", () => {
  it("prints the assistant's block with node, the sluice bin and SLUICE_URL, never the key", async () => {
    const res = await config(["--client", "claude-desktop"], {
      SLUICE_URL: "https://sluice.example.com/",
      SLUICE_API_KEY: "slk_secret_value_123",
    });
    expect(res.code).toBe(0);
    const block = JSON.parse(res.out);
    const server = block.mcpServers.sluice;
    expect(server.command).toBe(process.execPath);
    expect(server.args[0]).toMatch(/apps\/cli\/bin\/sluice\.js$/);
    expect(server.args[1]).toBe("mcp");
    expect(server.env).toEqual({
      SLUICE_URL: "https://sluice.example.com",
      SLUICE_CONFIG_DIR: "/nonexistent/sluice",
    });
    expect(res.out + res.err).not.toContain("slk_secret_value_123");
    expect(res.err).toContain("SLUICE_API_KEY");
  });

  it("prints the remote endpoint's URL block with --remote, never the key", async () => {
    const env = { SLUICE_URL: "https://sluice.example.com/", SLUICE_API_KEY: "slk_secret_value_123" };
    const vscode = await config(["--client", "vscode", "--remote"], env);
    expect(vscode.code).toBe(0);
    expect(JSON.parse(vscode.out)).toEqual({
      servers: { sluice: { type: "http", url: "https://sluice.example.com/mcp" } },
    });
    const cursor = await config(["--client", "cursor", "--remote"], env);
    expect(JSON.parse(cursor.out)).toEqual({
      mcpServers: { sluice: { url: "https://sluice.example.com/mcp" } },
    });
    expect(cursor.err).toMatch(/OAuth/);
    expect(vscode.out + vscode.err + cursor.out + cursor.err).not.toContain("slk_secret_value_123");
  });

  it("asks for a URL when there is no login, and rejects unknown clients", async () => {
    expect(await config([], {})).toMatchObject({ code: 2, err: expect.stringContaining("--url") });
    expect((await config(["--client", "emacs"], { SLUICE_URL: "http://x" })).code).toBe(2);
  });
});
