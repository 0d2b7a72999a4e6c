export const MCP_CLIENTS = ["claude-desktop", "cursor", "vscode", "generic"] as const;
export type McpClientKind = (typeof MCP_CLIENTS)[number];

export interface McpLaunch {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/sluice.js. */
  bin: string;
  url: string;
  /** Set when the login lives outside the default config directory. */
  configDir?: string;
}

/**
 * The JSON block an assistant's MCP settings need to start `sluice mcp` over stdio. It never
 * holds a key: the server uses the stored login, or SLUICE_API_KEY the user adds themselves.
 */
export function mcpConfigBlock(kind: McpClientKind, launch: McpLaunch): Record<string, unknown> {
  const env: Record<string, string> = { SLUICE_URL: launch.url };
  if (launch.configDir) env.SLUICE_CONFIG_DIR = launch.configDir;
  const server = { command: launch.node, args: [launch.bin, "mcp"], env };
  switch (kind) {
    case "claude-desktop":
    case "cursor":
      return { mcpServers: { sluice: server } };
    case "vscode":
      return { servers: { sluice: { type: "stdio", ...server } } };
    case "generic":
      return server;
  }
}

const WHERE: Record<McpClientKind, string> = {
  "claude-desktop":
    "add this to claude_desktop_config.json (Settings → Developer → Edit Config), then restart Claude Desktop",
  cursor: "add this to ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
  vscode: "add this to .vscode/mcp.json in your workspace (or your user MCP configuration)",
  generic: "start this command with these arguments and environment as an MCP stdio server",
};

/** What to do with the block, for stderr: where it goes, and how the server gets an identity. */
export function mcpConfigAdvice(kind: McpClientKind): string {
  return [
    `${WHERE[kind]}.`,
    "The server acts as your Sluice identity: it uses your `sluice login`, or add SLUICE_API_KEY to the env",
    "block yourself (prefer a dedicated key for the assistant); this command never prints a key.",
    "",
  ].join("\n");
}
