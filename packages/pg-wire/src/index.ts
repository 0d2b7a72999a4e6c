export { type AuthClient, type AuthClientOptions, createAuthClient, md5PasswordHash } from "./auth-client";
export {
  type AuthenticationMessage,
  type BackendKeyData,
  type BackendMessage,
  expectType,
  type FieldDescription,
  type NoticeFields,
  parseAuthentication,
  parseBackendKeyData,
  parseBackendMessage,
  parseCommandComplete,
  parseNegotiateProtocolVersion,
  parseNoticeFields,
  parseNotificationResponse,
  parseParameterStatus,
  parseReadyForQuery,
  parseRowDescription,
  type TransactionStatus,
} from "./backend-messages";
export { backend, errorFrame } from "./backend-serializer";
export { DataRowReader, serializeDataRow } from "./data-row";
export { isProtocolError, ProtocolError, type ProtocolErrorCode } from "./errors";
export {
  DEFAULT_MAX_FRAME,
  DEFAULT_MAX_STARTUP_FRAME,
  type Frame,
  FrameReader,
  type FrameReaderOptions,
  readFrames,
} from "./frame-reader";
export { FrameScanner, type FrameSink, frameTypes } from "./frame-scanner";
export {
  type BindMessage,
  type ExecuteMessage,
  type FrontendMessage,
  formatAt,
  MAX_CANCEL_KEY_LENGTH,
  type ParseMessage,
  parseBind,
  parseClose,
  parseCopyFail,
  parseDescribe,
  parseExecute,
  parseFrontendMessage,
  parseParse,
  parsePasswordMessage,
  parseQuery,
  parseSASLInitialResponse,
  parseStartupFrame,
  type SASLInitialResponse,
  type StartupFrame,
  type TargetMessage,
} from "./frontend-messages";
export { frontend } from "./frontend-serializer";
export { AuthCode, BackendCode, FrontendCode, StartupCode } from "./message-codes";
export {
  createScramClient,
  parseScramAttributes,
  SCRAM_SHA_256,
  type ScramClient,
  type ScramClientOptions,
} from "./scram";
export { SliceBatch } from "./slice-batch";
