import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

export { createSluiceMcpServer } from "@sluice/mcp-tools";

/** Serves MCP on this process' stdin/stdout until stdin ends or `stop` aborts. */
export async function serveStdio(server: McpServer, stop: AbortSignal): Promise<void> {
  const transport = new StdioServerTransport(process.stdin, process.stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  await server.connect(transport);
  const end = () => void server.close();
  process.stdin.once("end", end);
  process.stdin.once("close", end);
  if (stop.aborted) end();
  else stop.addEventListener("abort", end, { once: true });
  try {
    await closed;
  } finally {
    process.stdin.off("end", end);
    process.stdin.off("close", end);
    stop.removeEventListener("abort", end);
  }
}
