/**
 * An OAuth 2.0 error (RFC 6749 §5.2): the token endpoint answers these as
 * `{"error": "...", "error_description": "..."}` instead of the API's error body.
 */
export class OAuthError extends Error {
  constructor(
    readonly error:
      | "invalid_request"
      | "invalid_grant"
      | "invalid_client"
      | "invalid_target"
      | "invalid_client_metadata"
      | "invalid_redirect_uri"
      | "unsupported_response_type"
      | "unsupported_grant_type"
      | "access_denied"
      | "authorization_pending"
      | "slow_down"
      | "expired_token"
      | "temporarily_unavailable",
    readonly description: string,
    readonly status = 400,
    options?: { cause?: unknown },
  ) {
    super(description, options);
    this.name = "OAuthError";
  }

  toJSON() {
    return { error: this.error, error_description: this.description };
  }
}

export const invalidGrant = (description: string) => new OAuthError("invalid_grant", description);
