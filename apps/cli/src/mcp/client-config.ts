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

/**
 * The block for the control plane's remote MCP endpoint (Streamable HTTP at `<url>/mcp`).
 * It holds only the URL: the assistant signs in through the control plane's OAuth endpoints.
 */
export function mcpRemoteConfigBlock(kind: McpClientKind, url: string): Record<string, unknown> {
  const endpoint = `${url}/mcp`;
  switch (kind) {
    case "claude-desktop":
    case "cursor":
      return { mcpServers: { sluice: { url: endpoint } } };
    case "vscode":
      return { servers: { sluice: { type: "http", url: endpoint } } };
    case "generic":
      return { type: "http", url: endpoint };
  }
}

const REMOTE_WHERE: Record<McpClientKind, string> = {
  "claude-desktop":
    "add the URL as a custom connector (Settings → Connectors → Add custom connector), or this block where remote servers are configured",
  cursor: "add this to ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
  vscode: "add this to .vscode/mcp.json in your workspace (or your user MCP configuration)",
  generic: "point the assistant's Streamable HTTP MCP client at this URL",
};

/** What to do with the remote block: where it goes, and how the assistant gets an identity. */
export function mcpRemoteConfigAdvice(kind: McpClientKind): string {
  return [
    `${REMOTE_WHERE[kind]}.`,
    "On first use the assistant opens the control plane's sign-in (OAuth with PKCE, your IdP login); a",
    "headless agent instead sends `Authorization: Bearer <Sluice API key>`, or a service identity gets a",
    "token by client credentials (client_id = its name, client_secret = its API key). Never put a key here.",
    "",
  ].join("\n");
}
