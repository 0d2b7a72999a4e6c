import type { CellMasker, ColumnDefinition, ResultMasker } from "@sluice/mysql-wire";
import { ColumnType } from "@sluice/mysql-wire";
import type { CatalogNames, MaskingPlan, MaskTally, ResultColumn, RowMasker } from "@sluice/policy";

/**
 * The masking engine reads Postgres-shaped result columns (a table OID, a type OID) and
 * DataRow frames. A MySQL column definition names its table and type directly, so each
 * distinct `schema.table` gets a synthetic id this session's catalog names resolve, and
 * each MySQL type maps to the Postgres type whose text form it shares (strings and
 * binary strings to `text`, so content detectors see every byte the client would).
 */
const TEXT = 25;
const JSON_OID = 114;
const INT8 = 20;
const NUMERIC = 1700;
const FLOAT8 = 701;
const DATE = 1082;
const TIME = 1083;
const TIMESTAMP = 1114;

function typeOid(type: number): number {
  switch (type) {
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.LONG:
    case ColumnType.LONGLONG:
    case ColumnType.INT24:
    case ColumnType.YEAR:
      return INT8;
    case ColumnType.DECIMAL:
    case ColumnType.NEWDECIMAL:
      return NUMERIC;
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
      return FLOAT8;
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      return DATE;
    case ColumnType.TIME:
    case ColumnType.TIME2:
      return TIME;
    case ColumnType.TIMESTAMP:
    case ColumnType.TIMESTAMP2:
    case ColumnType.DATETIME:
    case ColumnType.DATETIME2:
      return TIMESTAMP;
    case ColumnType.JSON:
      return JSON_OID;
    default:
      return TEXT;
  }
}

/** Synthetic table ids per `schema.table`, for one session. */
export class MysqlCatalog implements CatalogNames {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  idOf(col: ColumnDefinition): number {
    if (!col.orgTable) return 0;
    const name = `${col.schema.toLowerCase()}.${col.orgTable.toLowerCase()}`;
    let id = this.ids.get(name);
    if (id === undefined) {
      if (this.names.length >= 100_000) return 0;
      this.names.push(name);
      id = this.names.length;
      this.ids.set(name, id);
    }
    return id;
  }

  table(oid: number): string | undefined {
    return this.names[oid - 1];
  }

  type(): string | undefined {
    return undefined;
  }
}

/** Values up to this size are framed in a buffer each masker keeps; longer ones in their own. */
const SCRATCH_BYTES = 64 * 1024;

/** `value` as a one-column DataRow frame, the form the masking engine reads, at the start of `frame`. */
function writeDataRow(frame: Buffer, value: Buffer): number {
  frame[0] = 0x44;
  frame.writeUInt32BE(10 + value.length, 1);
  frame.writeUInt16BE(1, 5);
  frame.writeInt32BE(value.length, 7);
  value.copy(frame, 11);
  return 11 + value.length;
}

function cellOf(frame: Buffer): Buffer | null {
  const len = frame.readInt32BE(7);
  return len < 0 ? null : frame.subarray(11, 11 + len);
}

/**
 * The masker of one column's values. The engine only reads the frame it is given and
 * returns a new one when a value changed, so one scratch frame serves every value.
 */
function cellMasker(masker: RowMasker): CellMasker {
  let scratch: Buffer | undefined;
  return (value) => {
    const size = 11 + value.length;
    let frame: Buffer;
    if (size > SCRATCH_BYTES) frame = Buffer.allocUnsafe(size);
    else {
      if (!scratch || scratch.length < size)
        scratch = Buffer.allocUnsafe(Math.min(SCRATCH_BYTES, Math.max(256, size * 2)));
      frame = scratch;
    }
    const out = masker.maskRow(frame, 0, writeDataRow(frame, value));
    return out ? cellOf(out) : value;
  };
}

/** The maskers of one MySQL result set, by column index; undefined when no rule covers a column. */
export function mysqlResultMasker(
  plan: MaskingPlan,
  catalog: MysqlCatalog,
  columns: readonly ColumnDefinition[],
  totals: MaskTally,
): ResultMasker | undefined {
  const maskers = new Map<number, CellMasker>();
  columns.forEach((col, i) => {
    const rc: ResultColumn = {
      // The physical column name: an alias (`SELECT email AS e`) must not escape a column rule.
      name: col.orgName || col.name,
      tableOid: catalog.idOf(col),
      typeOid: typeOid(col.type),
      format: 0,
    };
    const masker = plan.forColumns([rc], catalog, totals);
    if (masker) maskers.set(i, cellMasker(masker));
  });
  return maskers.size > 0 ? maskers : undefined;
}

/**
 * Masks values inside message text (ERR messages such as `Duplicate entry 'ada@example.com'`):
 * the content detectors of rules that name no column or table apply, as to any text value.
 */
export function mysqlMessageMasker(
  plan: MaskingPlan,
  catalog: MysqlCatalog,
  totals: MaskTally,
): ((message: string) => string) | undefined {
  const masker = plan.forColumns([{ name: "", tableOid: 0, typeOid: TEXT, format: 0 }], catalog, totals);
  if (!masker) return undefined;
  const mask = cellMasker(masker);
  return (message) => {
    const out = mask(Buffer.from(message, "utf8"), undefined as never);
    return out === null ? "[masked]" : out.toString();
  };
}
