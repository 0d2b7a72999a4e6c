import type { BinaryValue } from "./binary-values";
import type { ColumnDefinition } from "./column-definition";
import type { CellMasker, ResultMasker } from "./proxy-hooks";
import { decodeBinaryRow, decodeTextRow, encodeBinaryRow, encodeTextRow } from "./rows";
import { binaryValueToText, textToBinaryValue } from "./value-text";

export interface MaskedRow {
  payload: Buffer;
  maskedCells: number;
}

function applyCell(masker: CellMasker, value: Buffer, column: ColumnDefinition): Buffer | null {
  try {
    const out = masker(value, column);
    return typeof out === "string" ? Buffer.from(out, "utf8") : out;
  } catch {
    return null;
  }
}

/** Applies maskers to a text row; returns the same payload (same bytes) when no cell changed. */
export function maskTextRow(
  payload: Buffer,
  columns: readonly ColumnDefinition[],
  masker: ResultMasker,
): MaskedRow {
  const cells = decodeTextRow(payload, columns.length);
  let changed = 0;
  for (const [i, fn] of masker) {
    const v = cells[i];
    const column = columns[i];
    if (!v || !column) continue;
    const out = applyCell(fn, v, column);
    if (out === null || !out.equals(v)) {
      cells[i] = out;
      changed++;
    }
  }
  return changed === 0
    ? { payload, maskedCells: 0 }
    : { payload: encodeTextRow(cells), maskedCells: changed };
}

/** Applies maskers to a binary row, through each value's text form; unchanged rows keep their bytes. */
export function maskBinaryRow(
  payload: Buffer,
  columns: readonly ColumnDefinition[],
  masker: ResultMasker,
): MaskedRow {
  const values: BinaryValue[] = decodeBinaryRow(payload, columns);
  let changed = 0;
  for (const [i, fn] of masker) {
    const v = values[i];
    const column = columns[i];
    if (v === null || v === undefined || !column) continue;
    const text = binaryValueToText(v, column);
    const out = applyCell(fn, text, column);
    if (out?.equals(text)) continue;
    values[i] = out === null ? null : (textToBinaryValue(out, column) ?? null);
    changed++;
  }
  return changed === 0
    ? { payload, maskedCells: 0 }
    : { payload: encodeBinaryRow(values, columns), maskedCells: changed };
}
