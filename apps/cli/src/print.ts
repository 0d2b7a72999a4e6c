import { CliError, expectShape } from "@sluice/client";
import { z } from "zod";
import type { CliIo } from "./context";
import {
  type Column,
  isRecord,
  type OutputFormat,
  type Row,
  renderDetails,
  renderJson,
  renderTable,
} from "./output";

const listSchema = z.object({ items: z.array(z.record(z.string(), z.unknown())) });

export interface ListSpec {
  /** Plural noun for "no <resource>". */
  plural: string;
  columns: Column[];
}

/** Prints a `{ items }` response: a table, or the raw JSON; an empty table says so on stderr. */
export function printList(io: CliIo, format: OutputFormat, payload: unknown, spec: ListSpec): void {
  if (format === "json") {
    io.stdout(renderJson(payload));
    return;
  }
  const items = expectList(payload);
  if (items.length === 0) {
    io.stderr(`no ${spec.plural}\n`);
    return;
  }
  io.stdout(renderTable(items, spec.columns));
}

/** Prints one object: aligned `key: value` lines, or the raw JSON. */
export function printItem(io: CliIo, format: OutputFormat, payload: unknown): void {
  if (format === "json") {
    io.stdout(renderJson(payload));
    return;
  }
  io.stdout(renderDetails(expectObject(payload)));
}

/** Prints a confirmation line, or `fallbackJson` in JSON mode so scripts always get JSON. */
export function printDone(io: CliIo, format: OutputFormat, message: string, fallbackJson: unknown): void {
  io.stdout(format === "json" ? renderJson(fallbackJson) : `${message}\n`);
}

export function expectList(payload: unknown): Row[] {
  const result = listSchema.safeParse(payload);
  if (!result.success) throw unexpected("a list");
  return result.data.items;
}

export function expectObject(payload: unknown): Row {
  if (!isRecord(payload)) throw unexpected("an object");
  return payload;
}

/** Validates a response against the fields the CLI itself needs. */
export { expectShape };

export function label(row: Row): string {
  const name = typeof row.name === "string" ? row.name : undefined;
  const id = typeof row.id === "string" ? row.id : undefined;
  if (name && id && name !== id) return `${name} (${id})`;
  return name ?? id ?? "?";
}

function unexpected(what: string): CliError {
  return new CliError(`unexpected response from the control plane: expected ${what}`);
}
