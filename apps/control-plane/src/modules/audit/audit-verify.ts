import type { Db } from "../../lib/db";
import { entryHash, GENESIS_HASH } from "./audit-hash";

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** `<seq>:<hash>` of the last entry; keep it to detect a truncated tail later. */
  head: string | null;
  problem: { seq: number; reason: string } | null;
}

const PAGE = 2000;

/**
 * Walks the audit log in sequence order, recomputing each entry's hash and checking
 * that it links to its predecessor. An edited row breaks its own hash; a deleted row
 * leaves a gap in the sequence and breaks the next entry's link.
 */
export async function verifyChain(prisma: Db, expectHead?: string): Promise<VerifyResult> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1n;
  let entries = 0;
  let head: string | null = null;
  const heads = new Map<string, string>();
  for (;;) {
    const rows = await prisma.auditEvent.findMany({
      where: { seq: { gte: expectedSeq } },
      orderBy: { seq: "asc" },
      take: PAGE,
    });
    for (const r of rows) {
      const seq = Number(r.seq);
      if (r.seq !== expectedSeq)
        return {
          ok: false,
          entries,
          head,
          problem: { seq: Number(expectedSeq), reason: "entry missing (deleted)" },
        };
      if (r.prevHash !== prevHash)
        return { ok: false, entries, head, problem: { seq, reason: "does not link to the previous entry" } };
      if (entryHash(r) !== r.hash)
        return {
          ok: false,
          entries,
          head,
          problem: { seq, reason: "content does not match its hash (edited)" },
        };
      prevHash = r.hash;
      expectedSeq = r.seq + 1n;
      entries += 1;
      head = `${seq}:${r.hash}`;
      if (expectHead) heads.set(String(seq), r.hash);
    }
    if (rows.length < PAGE) break;
  }
  if (expectHead) {
    const [seq, hash] = expectHead.split(":") as [string, string];
    const found = heads.get(seq);
    if (found === undefined)
      return {
        ok: false,
        entries,
        head,
        problem: { seq: Number(seq), reason: "expected head is missing (log truncated)" },
      };
    if (found !== hash)
      return {
        ok: false,
        entries,
        head,
        problem: { seq: Number(seq), reason: "expected head has a different hash" },
      };
  }
  return { ok: true, entries, head, problem: null };
}
