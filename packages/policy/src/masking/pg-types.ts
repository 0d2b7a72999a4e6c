/**
 * What the masker knows about Postgres types without asking the catalog: the names of
 * built-in type OIDs (for `types` filters) and how a value of each type is laid out in
 * binary format (for deciding whether it can be inspected, rewritten or must be NULLed).
 */

/** Built-in type OIDs and their `pg_type.typname`. */
const builtinTypes: Record<number, string> = {
  16: "bool",
  17: "bytea",
  18: "char",
  19: "name",
  20: "int8",
  21: "int2",
  23: "int4",
  24: "regproc",
  25: "text",
  26: "oid",
  114: "json",
  142: "xml",
  199: "_json",
  650: "cidr",
  700: "float4",
  701: "float8",
  705: "unknown",
  774: "macaddr8",
  790: "money",
  829: "macaddr",
  869: "inet",
  1000: "_bool",
  1001: "_bytea",
  1005: "_int2",
  1007: "_int4",
  1009: "_text",
  1014: "_bpchar",
  1015: "_varchar",
  1016: "_int8",
  1021: "_float4",
  1022: "_float8",
  1041: "_inet",
  1042: "bpchar",
  1043: "varchar",
  1082: "date",
  1083: "time",
  1114: "timestamp",
  1115: "_timestamp",
  1182: "_date",
  1184: "timestamptz",
  1185: "_timestamptz",
  1186: "interval",
  1231: "_numeric",
  1266: "timetz",
  1560: "bit",
  1562: "varbit",
  1700: "numeric",
  2950: "uuid",
  2951: "_uuid",
  3614: "tsvector",
  3615: "tsquery",
  3802: "jsonb",
  3807: "_jsonb",
  4072: "jsonpath",
};

const builtinNames = new Set(Object.values(builtinTypes));

/** SQL spellings that differ from `typname`. */
const aliases: Record<string, string> = {
  integer: "int4",
  int: "int4",
  smallint: "int2",
  bigint: "int8",
  boolean: "bool",
  real: "float4",
  "double precision": "float8",
  "character varying": "varchar",
  character: "bpchar",
  char: "bpchar",
  '"char"': "char",
  decimal: "numeric",
  "timestamp without time zone": "timestamp",
  "timestamp with time zone": "timestamptz",
  "time without time zone": "time",
  "time with time zone": "timetz",
  "bit varying": "varbit",
};

/**
 * Normalises a type name from a rule to `typname` form: lower case, no schema, SQL
 * aliases resolved (`bigint` → `int8`, `character varying` → `varchar`; `char` means
 * SQL's `char(n)`, i.e. `bpchar`), `x[]` → `_x`.
 */
export function normalizeTypeName(raw: string): string {
  let name = raw.trim().toLowerCase().replace(/\s+/g, " ");
  const dot = name.lastIndexOf(".");
  if (dot >= 0) name = name.slice(dot + 1);
  name = name.replace(/\(.*\)$/, "").trim();
  let array = false;
  if (name.endsWith("[]")) {
    array = true;
    name = name.slice(0, -2).trim();
  }
  name = aliases[name] ?? name;
  return array ? `_${name}` : name;
}

export function builtinTypeName(oid: number): string | undefined {
  return builtinTypes[oid];
}

export function isBuiltinTypeName(name: string): boolean {
  return builtinNames.has(name);
}

/** How a value of a column is read and rewritten. */
export const Codec = {
  /** UTF-8 text: any text-format value, and binary values of text-like types. */
  text: 0,
  /** Binary jsonb: a version byte (1) followed by JSON text. */
  jsonb: 1,
  /** Binary int2/int4/int8: decoded to decimal text for detectors; masked → NULL. */
  integer: 2,
  /** Any other binary value: cannot be rewritten, so a covering rule NULLs it. */
  opaque: 3,
} as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

const binaryText = new Set([25, 1043, 1042, 19, 18, 114, 142, 705]);
const integers = new Set([21, 23, 20]);
/** bool, float4/8, date, time, timestamp(tz), interval, uuid, oid. */
const inertOids = new Set([16, 700, 701, 1082, 1083, 1114, 1184, 1186, 2950, 26]);
const inertNames = new Set([...inertOids].map((oid) => builtinTypes[oid]!));

/**
 * Picks the codec of a column. Binary layouts are decided by type OID only (plus
 * `citext`, whose OID the agent resolves); any text-format value is text.
 */
export function codecOf(format: number, typeOid: number, typeName: string | undefined): Codec {
  if (format === 0) return Codec.text;
  if (binaryText.has(typeOid) || typeName === "citext") return Codec.text;
  if (typeOid === 3802) return Codec.jsonb;
  if (integers.has(typeOid)) return Codec.integer;
  return Codec.opaque;
}

/**
 * Types whose values cannot carry detectable content (bool, float4/8, date, time,
 * timestamp(tz), interval, uuid, oid): detectors leave them alone. Binary values are
 * judged by OID; text values by type name, so a catalog view that names the type of an
 * unknown OID (the control plane's dry run does) gets the same answer.
 */
export function isInertType(format: number, typeOid: number, typeName: string | undefined): boolean {
  if (format !== 0) return inertOids.has(typeOid);
  return typeName !== undefined && inertNames.has(typeName);
}

/**
 * Built-in detectors that can match the text form of a numeric type: an int2/int4/oid
 * (at most 11 characters, no separators) can match none of them, an int8 or numeric only
 * a card number. Undefined: any detector may match.
 */
export function builtinDetectorsFor(typeName: string | undefined): readonly string[] | undefined {
  if (typeName === "int2" || typeName === "int4" || typeName === "oid") return [];
  if (typeName === "int8" || typeName === "numeric") return ["credit_card"];
  return undefined;
}

/** json and jsonb values masked whole become JSON strings, so clients can still parse them. */
export function isJsonType(typeName: string | undefined): boolean {
  return typeName === "json" || typeName === "jsonb";
}
