import { describe, expect, it } from "vitest";
import { mcpConfigBlock } from "./client-config";

const launch = { node: "/usr/bin/node", bin: "/opt/sluice/bin/sluice.js", url: "https://sluice.example.com" };

describe("sluice mcp config", () => {
  it("prints each assistant's config block with the URL and never a key", () => {
    const server = { command: launch.node, args: [launch.bin, "mcp"], env: { SLUICE_URL: launch.url } };
    expect(mcpConfigBlock("claude-desktop", launch)).toEqual({ mcpServers: { sluice: server } });
    expect(mcpConfigBlock("cursor", launch)).toEqual({ mcpServers: { sluice: server } });
    expect(mcpConfigBlock("vscode", launch)).toEqual({ servers: { sluice: { type: "stdio", ...server } } });
    expect(mcpConfigBlock("generic", { ...launch, configDir: "/home/u/.sluice" })).toEqual({
      ...server,
      env: { SLUICE_URL: launch.url, SLUICE_CONFIG_DIR: "/home/u/.sluice" },
    });
  });
});
