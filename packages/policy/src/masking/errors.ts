export type MaskingErrorCode = "invalid_rule" | "malformed_row" | "malformed_body";

/**
 * The one error the masking engine throws: `invalid_rule` from {@link compileMasking}
 * (the agent fails closed and refuses sessions on the connection), `malformed_row` from
 * `maskRow` when a DataRow frame is truncated or disagrees with its RowDescription (the
 * proxy turns it into a protocol error and ends the session), `malformed_body` from a
 * body masker that cannot follow an HTTP body (malformed JSON, nesting too deep, an SSE
 * line too long: the proxy cuts the response off). Messages never contain values.
 */
export class MaskingError extends Error {
  readonly code: MaskingErrorCode;

  constructor(code: MaskingErrorCode, message: string) {
    super(message);
    this.name = "MaskingError";
    this.code = code;
  }
}

export function malformedRow(detail: string): never {
  throw new MaskingError("malformed_row", `malformed DataRow message: ${detail}`);
}
