/** Text shown to people in more than one place, kept together so it changes in one spot. */

export const DEFAULT_CONTROL_PLANE_URL = "http://127.0.0.1:8080";

export const NOT_LOGGED_IN =
  "not logged in: run `sluice login --api-key <key> --url <url>` or set SLUICE_API_KEY";

export { UNAUTHENTICATED_HINT } from "@sluice/client";

export function agentStartHint(token: string): string {
  return `SLUICE_AGENT_TOKEN=${token} SLUICE_CONTROL_PLANE_GRPC=<host:port> pnpm --filter @sluice/agent start`;
}

export function enrollmentTokenNotice(token: string): string[] {
  return [
    "",
    `  enrollment token: ${token}`,
    "",
    "This token is shown only once; it cannot be retrieved later (use `rotate-token` to issue a new one).",
    "Start an agent with it:",
    `  ${agentStartHint(token)}`,
    "(the agent also needs SLUICE_CA_FILE, or SLUICE_GRPC_INSECURE=true for a loopback control plane)",
  ];
}

export function apiKeyNotice(secret: string): string[] {
  return [
    "",
    `  API key: ${secret}`,
    "",
    "This key is shown only once; store it now. Use it with `sluice login --api-key -` (reads stdin)",
    "or by setting SLUICE_API_KEY.",
  ];
}
