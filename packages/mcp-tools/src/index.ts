export { createSluiceMcpServer, mcpSessionClient } from "./server";
export { type McpDeps, ToolError } from "./tool-context";
