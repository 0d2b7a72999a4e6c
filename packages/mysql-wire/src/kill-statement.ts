const KILL_RE = /^\s*KILL\s+(?:(HARD|SOFT)\s+)?(?:(QUERY|CONNECTION)\s+)?(?:(ID)\s+)?(\d{1,10})\s*;?\s*$/i;
const KILL_ANY_RE = /^\s*KILL\b/i;

export interface KillStatement {
  kind: "query" | "connection";
  connectionId: number;
  /** Rebuilds the statement for another id, keeping HARD/SOFT and QUERY/CONNECTION. */
  withId(id: number): string;
}

/**
 * Parses `KILL [HARD|SOFT] [QUERY|CONNECTION] [ID] <n>`. Returns undefined for anything
 * else; `isKillStatement` tells whether a statement starts with KILL at all (so forms this
 * does not map, like MariaDB's `KILL USER`, can be refused).
 */
export function parseKillStatement(sql: string): KillStatement | undefined {
  if (sql.length > 200) return undefined;
  const m = KILL_RE.exec(sql);
  if (!m) return undefined;
  const id = Number(m[4]);
  if (!Number.isSafeInteger(id) || id > 0xffffffff) return undefined;
  const kind = m[2]?.toUpperCase() === "QUERY" ? "query" : "connection";
  const parts = ["KILL", m[1]?.toUpperCase(), m[2]?.toUpperCase()].filter(Boolean);
  return { kind, connectionId: id, withId: (n) => `${parts.join(" ")} ${m[3] ? "ID " : ""}${n}` };
}

export function isKillStatement(sql: string): boolean {
  return KILL_ANY_RE.test(sql);
}
