/** Builders shared by the body masking tests and the body masking bench. */
import type { Transform } from "node:stream";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { withLuhnDigit } from "../masking.testing";

/** One customer record as JSON (about 300 bytes). */
export function customerRecord(i: number): string {
  const card = withLuhnDigit(`411111${String(i % 1_000_000_000).padStart(9, "0")}`);
  return JSON.stringify({
    id: i,
    name: `Customer ${i}`,
    email: `customer${i}@example.com`,
    ssn: `${String(100 + (i % 800)).padStart(3, "0")}-45-${String(i % 10000).padStart(4, "0")}`,
    card_number: card,
    address: { street: `${i} Main Street`, city: "Springfield", zip: String(10000 + (i % 89999)) },
    tags: ["retail", i % 2 === 0 ? "gold" : "silver"],
    active: i % 3 !== 0,
    balance: (i * 7.31) % 10000,
    note: "Prefers contact by phone in the afternoon.",
  });
}

const CHUNK = 64 * 1024;
const DISTINCT_CHUNKS = 256;

/**
 * Chunks (about 64 KiB each) of the document `{"customers":[record, …]}` of about
 * `bytes` bytes. The record chunks are built once and cycled, so the generator costs
 * almost nothing next to what it feeds.
 */
export function* recordsDocument(bytes: number): Generator<Buffer> {
  const chunks: Buffer[] = [];
  let id = 0;
  for (let c = 0; c < DISTINCT_CHUNKS; c++) {
    let s = "";
    while (s.length < CHUNK) s += `${customerRecord(id++)},`;
    chunks.push(Buffer.from(s));
  }
  yield Buffer.from('{"customers":[');
  let sent = 0;
  for (let c = 0; sent < bytes; c = (c + 1) % DISTINCT_CHUNKS) {
    yield chunks[c]!;
    sent += chunks[c]!.length;
  }
  yield Buffer.from(`${customerRecord(id)}]}`);
}

/** Streams `chunks` through `transform` and collects the output. */
export async function through(transform: Transform, chunks: Iterable<Buffer | string>): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk);
      cb();
    },
  });
  await pipeline(Readable.from(chunks, { objectMode: false }), transform, sink);
  return Buffer.concat(out);
}
