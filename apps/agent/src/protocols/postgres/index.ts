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
export { PolicyGate, type SessionPolicy } from "./policy-gate";
