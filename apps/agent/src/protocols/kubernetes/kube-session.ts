import type { ConnectionSpec } from "@sluice/proto";
import type { Pool } from "undici";
import type { SessionContext, TargetCredential } from "../../core/broker";
import type { FrontSession } from "../../core/http-front";
import type { HttpTarget, UpstreamConnectOptions } from "../http/http-upstream";

/** Who the API server is told the caller is (Impersonate-User, Impersonate-Group). */
export interface KubeIdentity {
  user: string;
  groups: string[];
}

/** One Kubernetes session: a kubectl connection (or tunnel stream) on one Sluice connection. */
export interface KubeSession extends FrontSession {
  ctx: SessionContext;
  target: HttpTarget;
  pool: Pool;
  upstreamTls: UpstreamConnectOptions;
  credential: TargetCredential;
  /** Undefined when the connection sends requests as the agent's own credential. */
  identity: KubeIdentity | undefined;
}

const DEFAULT_PREFIX = "sluice:";

/**
 * The identity upstream requests impersonate: the Sluice identity's name, and its groups
 * mapped by the connection's settings (unmapped ones prefixed, `sluice:` by default, so a
 * Sluice group can never name a cluster group it was not mapped to).
 */
export function kubeIdentity(
  conn: ConnectionSpec,
  who: { name: string; groups: readonly string[] },
): KubeIdentity | undefined {
  const s = conn.settings?.$case === "kubernetes" ? conn.settings.value : undefined;
  if (s?.disableImpersonation) return undefined;
  let mapping: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(s?.groupMappingJson || "{}");
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      mapping = parsed as Record<string, string>;
  } catch {
    mapping = {};
  }
  const prefix = s?.groupPrefix || DEFAULT_PREFIX;
  const groups = who.groups.map((g) =>
    Object.hasOwn(mapping, g) && typeof mapping[g] === "string" ? (mapping[g] as string) : `${prefix}${g}`,
  );
  return { user: who.name, groups: [...new Set(groups)] };
}

/** Client-sent impersonation headers (`kubectl --as`, `--as-group`, `--as-uid`). */
export const IMPERSONATE_HEADER = /^impersonate-/i;
