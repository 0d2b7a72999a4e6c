import { BINARY_COLLATION, ColumnFlag, ColumnType } from "./constants";
import { PayloadReader } from "./payload-reader";
import { PayloadWriter } from "./payload-writer";

/** Protocol::ColumnDefinition41, as policy sees a result column. */
export interface ColumnDefinition {
  catalog: string;
  schema: string;
  /** Table alias as written in the query. */
  table: string;
  /** Physical table name. */
  orgTable: string;
  /** Column alias as written in the query. */
  name: string;
  /** Physical column name. */
  orgName: string;
  /** Collation id of the values (63 = binary). */
  charset: number;
  columnLength: number;
  /** A `ColumnType` value. */
  type: number;
  /** `ColumnFlag` bits. */
  flags: number;
  decimals: number;
}

const MAX_NAME = 4096;

export function parseColumnDefinition(payload: Buffer): ColumnDefinition {
  const r = new PayloadReader(payload);
  const str = () => {
    const b = r.lenencBytes();
    return b.subarray(0, MAX_NAME).toString("utf8");
  };
  const catalog = str();
  const schema = str();
  const table = str();
  const orgTable = str();
  const name = str();
  const orgName = str();
  const fixed = r.lenencInt();
  const fixedStart = r.pos;
  const charset = r.u16();
  const columnLength = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  r.pos = Math.min(payload.length, fixedStart + Math.max(fixed, 10));
  return { catalog, schema, table, orgTable, name, orgName, charset, columnLength, type, flags, decimals };
}

export function serializeColumnDefinition(c: ColumnDefinition): Buffer {
  return new PayloadWriter()
    .lenencBytes(c.catalog)
    .lenencBytes(c.schema)
    .lenencBytes(c.table)
    .lenencBytes(c.orgTable)
    .lenencBytes(c.name)
    .lenencBytes(c.orgName)
    .lenencInt(0x0c)
    .u16(c.charset)
    .u32(c.columnLength)
    .u8(c.type)
    .u16(c.flags)
    .u8(c.decimals)
    .zeros(2)
    .build();
}

/** Convenience for tests and synthetic results: a VARCHAR-ish column with the given name. */
export function simpleColumn(
  name: string,
  type: number = ColumnType.VAR_STRING,
  flags = 0,
): ColumnDefinition {
  return {
    catalog: "def",
    schema: "",
    table: "",
    orgTable: "",
    name,
    orgName: name,
    charset: type === ColumnType.VAR_STRING ? 45 : BINARY_COLLATION,
    columnLength: 255,
    type,
    flags,
    decimals: 0,
  };
}

export function isUnsigned(c: Pick<ColumnDefinition, "flags">): boolean {
  return (c.flags & ColumnFlag.UNSIGNED) !== 0;
}
