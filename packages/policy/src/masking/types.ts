import type { MaskingDetector } from "../rules";
import type { BodyPlan } from "./body/body-plan";
import type { MaskTally } from "./mask-tally";
import type { RowArena } from "./row-arena";

/** One result column as a RowDescription describes it. */
export interface ResultColumn {
  name: string;
  /** 0 when the column is not a table column (an expression). */
  tableOid: number;
  typeOid: number;
  /** 0 = text, 1 = binary. */
  format: number;
}

/**
 * Names the agent resolved from the target's catalog. `table` should name every table
 * OID the agent can (the simplest complete source is one `pg_class` query per session
 * or catalog refresh, see the policy README): a table OID it cannot name makes every
 * table-filtered rule apply to that column (fail closed).
 */
export interface CatalogNames {
  /** `schema.table` of a table OID, lower case. */
  table(oid: number): string | undefined;
  /**
   * `typname` of a type OID, lower case, no schema (built-in types are known without a
   * lookup; the agent resolves {@link MaskingPlan.types}).
   */
  type(oid: number): string | undefined;
}

/**
 * Masked items by detector, and `column` for values replaced whole (by a column rule, or
 * NULLed because a covered binary value could not be inspected). A detector counts one
 * per masked match, so a value with two emails counts 2.
 */
export type MaskCounts = Partial<Record<MaskingDetector | "column", number>>;

/** Masks the DataRows of one result set. Created per RowDescription. */
export interface RowMasker {
  /**
   * Takes one DataRow frame (`buf[start]` is the 'D' type byte, `end` is exclusive) and
   * returns the frame to send instead, or `undefined` when no value changed. Never
   * throws on well-formed frames; a malformed frame throws a `MaskingError`
   * (`malformed_row`).
   */
  maskRow(buf: Buffer, start: number, end: number): Buffer | undefined;
  /**
   * Like {@link maskRow}, but writes the new frame into `arena` (at `arena.bytes`, from
   * the returned offset to `arena.pos`) instead of allocating one. Returns -1, writing
   * nothing, when no value changed.
   */
  maskRowInto(buf: Buffer, start: number, end: number, arena: RowArena): number;
  /** What this masker has masked so far (a copy). */
  counts(): MaskCounts;
}

export interface MaskingOptions {
  /** Key of the `hash` action (HMAC-SHA256); at least 16 bytes, one per deployment. */
  hashKey: Buffer;
}

/** Masks free text that is not a column value: error and notice fields, notification payloads, settings. */
export interface TextMasker {
  /** Some rule replaces whole values of the columns it covers (by name, table or type). */
  readonly wholeValues: boolean;
  /** Some rule has a content detector that runs on text. */
  readonly detects: boolean;
  /** The masked text, or undefined when nothing in it changed. */
  mask(text: string): string | undefined;
}

/** A compiled set of masking rules; compile once per policy set, use for every result set. */
export interface MaskingPlan {
  /** Table patterns the rules filter on (`schema.table`, `schema.*` or bare `table`), lower case. */
  readonly tables: readonly string[];
  /** Non-built-in type names the agent must resolve to OIDs (`citext` is always listed). */
  readonly types: readonly string[];
  /** True when the plan has no rules: the agent can skip RowDescription handling altogether. */
  readonly empty: boolean;
  /**
   * Decides, per column of a RowDescription, which rules apply. Returns `undefined` when
   * none can (the relay then forwards DataRows untouched). When `totals` is given, the
   * masker also adds what it masks to it, so the agent can keep one object per session.
   */
  forColumns(
    columns: readonly ResultColumn[],
    names: CatalogNames,
    totals?: MaskTally,
  ): RowMasker | undefined;
  /**
   * The rules that apply to HTTP bodies (`jsonPaths`, `columns` as JSON keys, detectors),
   * undefined when none does; `createBodyMasker` uses it.
   */
  readonly body: BodyPlan | undefined;
  /** The masker of free text (messages), counting into `totals` when given. */
  textMasker(totals?: MaskTally): TextMasker;
}
