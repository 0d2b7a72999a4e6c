import type { ConnectionSpec } from "@sluice/proto";

/** The SSH settings of a connection (the `ssh` case of its settings). */
export interface SshOptions {
  hostKey?: string;
  trustOnFirstUse: boolean;
  allowPortForwarding: boolean;
}

/** A connection without SSH settings gets the strictest ones. */
export function sshOptions(conn: Pick<ConnectionSpec, "settings">): SshOptions {
  const ssh = conn.settings?.$case === "ssh" ? conn.settings.value : undefined;
  return {
    ...(ssh?.hostKey ? { hostKey: ssh.hostKey } : {}),
    trustOnFirstUse: ssh?.trustOnFirstUse === true,
    allowPortForwarding: ssh?.allowPortForwarding === true,
  };
}

/** `scp -t path` (upload to the target) or `scp -f path` (download). */
export function parseScp(command: string): { direction: "upload" | "download"; path: string } | undefined {
  const parts = command.trim().split(/\s+/);
  if (parts[0] !== "scp" && !parts[0]?.endsWith("/scp")) return undefined;
  let direction: "upload" | "download" | undefined;
  const rest: string[] = [];
  for (const p of parts.slice(1)) {
    if (p === "--") continue;
    if (p.startsWith("-")) {
      if (p.includes("t")) direction = "upload";
      if (p.includes("f")) direction = "download";
    } else rest.push(p);
  }
  return direction ? { direction, path: rest.join(" ") } : undefined;
}
