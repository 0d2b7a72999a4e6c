import type { Connection, Submittable } from "pg";

export interface SqlColumn {
  name: string;
  typeOid: number;
}

/** One statement's outcome: its command tag and, for row-returning statements, the rows as text. */
export interface StatementResult {
  command: string;
  columns?: SqlColumn[];
  rows: (string | null)[][];
}

/** An ErrorResponse of the server (pg's DatabaseError carries these fields). */
export interface ServerError {
  message: string;
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

/** Decides, row by row, whether a row is kept; a dropped row is still read from the server. */
export type RowFilter = (fields: (string | null)[]) => boolean;

interface RowDescription {
  fields: { name: string; dataTypeID: number }[];
}

/**
 * Runs SQL text through the simple query protocol (so several statements are allowed),
 * handing each statement's result to `onResult` as soon as it completes and keeping the
 * server's own text for every value and command tag. Resolves when the server is ready
 * again, or with the server's error when a statement failed (the server skips the rest;
 * pg stops routing messages to this query at that point); rejects on connection errors.
 */
export class SimpleQuery implements Submittable {
  readonly done: Promise<{ error?: ServerError }>;
  private columns: SqlColumn[] | undefined;
  private rows: (string | null)[][] = [];
  private resolve!: (value: { error?: ServerError }) => void;
  private reject!: (err: Error) => void;

  constructor(
    private readonly text: string,
    private readonly onResult: (result: StatementResult) => void,
    private readonly keepRow?: RowFilter,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleRowDescription(msg: RowDescription): void {
    this.columns = msg.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID }));
    this.rows = [];
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.keepRow && !this.keepRow(msg.fields)) return;
    this.rows.push(msg.fields);
  }

  handleCommandComplete(msg: { text: string }): void {
    const result: StatementResult = { command: msg.text, rows: this.rows };
    if (this.columns) result.columns = this.columns;
    this.columns = undefined;
    this.rows = [];
    this.onResult(result);
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: Connection): void {
    (connection as unknown as { sendCopyFail(msg: string): void }).sendCopyFail(
      "COPY FROM STDIN is not supported by sluice exec",
    );
  }

  handleCopyData(): void {}

  handleError(err: Error): void {
    if (isServerError(err)) this.resolve({ error: err });
    else this.reject(err);
  }

  handleReadyForQuery(): void {
    this.resolve({});
  }
}

/** True for an ErrorResponse from the server, as opposed to a socket or protocol failure. */
export function isServerError(err: unknown): err is Error & ServerError {
  return err instanceof Error && "severity" in err && typeof (err as { code?: unknown }).code === "string";
}
