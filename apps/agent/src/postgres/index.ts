export { type CancelRegistration, CancelRegistry } from "./cancel-registry";
export { createPgProxy, handlePgClient, type PgProxy, toClientError } from "./pg-proxy";
export {
  type PgAuthorizeRequest,
  PgClientError,
  type PgClientOptions,
  type PgLogger,
  type PgProxyDeps,
  type PgRecordedResult,
  type PgSessionRecorder,
  type PgSslMode,
  type PgTarget,
} from "./pg-proxy-types";
export {
  type HeldStatement,
  type PendingReview,
  type PolicyEvent,
  PolicyGate,
  type ReviewOutcome,
  type SessionPolicy,
} from "./policy-gate";
