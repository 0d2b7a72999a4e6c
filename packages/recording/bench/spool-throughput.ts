import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createSpool } from "../src/spool";

const EVENTS = 200_000;
const payload = { text: `select * from accounts where id = $1 -- ${"x".repeat(120)}`, params: ["42"] };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function measureAppend(dir: string): Promise<void> {
  const spool = await createSpool({ dir: join(dir, "append") });
  let appendMs = 0;
  const start = performance.now();
  for (let i = 0; i < EVENTS; i += 1000) {
    const t = performance.now();
    for (let j = i; j < i + 1000; j++) spool.append(`s${j % 8}`, "pg.statement", payload);
    appendMs += performance.now() - t;
    await new Promise(setImmediate);
  }
  await spool.flush();
  const flushed = performance.now();
  const bytes = spool.spoolBytes();
  console.log(`append: ${EVENTS} events, ${(bytes / EVENTS).toFixed(0)} B/record on disk`);
  console.log(`  time inside append(): ${((EVENTS / appendMs) * 1000).toFixed(0)} events/s`);
  console.log(`  sustained, through fsync: ${((EVENTS / (flushed - start)) * 1000).toFixed(0)} events/s`);
  await spool.close();
}

async function measureFlush(dir: string, perFlush: number, rounds: number): Promise<void> {
  const spool = await createSpool({
    dir: join(dir, `flush-${perFlush}`),
    flushIntervalMs: 1e9,
    flushBytes: 1e12,
  });
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < perFlush; i++) spool.append("s1", "pg.statement", payload);
    const t = performance.now();
    await spool.flush();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const fmt = (n: number) => `${n.toFixed(2)} ms`;
  console.log(
    `flush of ${perFlush} event(s): p50 ${fmt(percentile(samples, 50))}, p99 ${fmt(percentile(samples, 99))}, max ${fmt(samples[samples.length - 1] ?? 0)}`,
  );
  await spool.close();
}

async function measureRead(dir: string): Promise<void> {
  const spool = await createSpool({ dir: join(dir, "append") });
  const start = performance.now();
  let events = 0;
  for (const { sessionId } of spool.pending()) {
    let after = 0;
    for (;;) {
      const batch = await spool.read(sessionId, after, 512 * 1024, 1000);
      const last = batch.events[batch.events.length - 1];
      if (!last) break;
      events += batch.events.length;
      after = last.seq;
    }
  }
  console.log(
    `read (1000-event batches): ${((events / (performance.now() - start)) * 1000).toFixed(0)} events/s`,
  );
  await spool.close();
}

const dir = await mkdtemp(join(tmpdir(), "sluice-spool-bench-"));
try {
  await measureAppend(dir);
  await measureRead(dir);
  await measureFlush(dir, 1, 200);
  await measureFlush(dir, 100, 200);
  await measureFlush(dir, 1000, 100);
} finally {
  await rm(dir, { recursive: true, force: true });
}
