import { mkdirSync, readFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export interface LeaseRecord {
  leaseId: string;
  connection: string;
  sessionId?: string;
  issuedAt: string;
}

export interface LeaseFile {
  /** Leases recorded by a previous process (read once, when the file was opened). */
  readonly leftovers: readonly LeaseRecord[];
  add(record: LeaseRecord): Promise<void>;
  remove(leaseId: string): Promise<void>;
  /** Resolves when every queued write is on disk. */
  flush(): Promise<void>;
}

/**
 * The ids of Vault leases the agent holds, in a small JSON file in its state dir, so a
 * restart after a crash can revoke them. Rewritten atomically (temp file, fsync,
 * rename) on every change and removed when no lease is left. Holds lease ids only:
 * a lease id names a credential but is not one.
 */
export function openLeaseFile(path: string | undefined, onCorrupt?: (why: string) => void): LeaseFile {
  const records = new Map<string, LeaseRecord>();
  if (path) {
    for (const r of readRecords(path, onCorrupt)) records.set(r.leaseId, r);
  }
  const leftovers = [...records.values()];
  let chain: Promise<void> = Promise.resolve();

  function persist(): Promise<void> {
    if (!path) return Promise.resolve();
    const snapshot = [...records.values()];
    const next = chain.then(() => write(path, snapshot));
    chain = next.catch(() => undefined);
    return next;
  }

  return {
    leftovers,
    add(record) {
      records.set(record.leaseId, record);
      return persist();
    },
    remove(leaseId) {
      if (!records.delete(leaseId)) return Promise.resolve();
      return persist();
    },
    flush: () => chain,
  };
}

function readRecords(path: string, onCorrupt?: (why: string) => void): LeaseRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") onCorrupt?.(`cannot read ${path}`);
    return [];
  }
  try {
    const parsed = JSON.parse(text) as { leases?: unknown };
    if (!Array.isArray(parsed.leases)) throw new Error("no leases array");
    return parsed.leases.filter(
      (r): r is LeaseRecord =>
        typeof r === "object" && r !== null && typeof (r as LeaseRecord).leaseId === "string",
    );
  } catch {
    onCorrupt?.(`${path} is not a lease file`);
    return [];
  }
}

async function write(path: string, leases: LeaseRecord[]): Promise<void> {
  if (leases.length === 0) {
    await rm(path, { force: true });
    return;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, "w", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ version: 1, leases }, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
