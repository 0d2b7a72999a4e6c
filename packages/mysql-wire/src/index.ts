export {
  cachingSha2Scramble,
  ed25519PublicKey,
  ed25519Sign,
  nativePasswordScramble,
  rsaEncryptPassword,
} from "./auth-plugins";
export {
  type BinaryDateTime,
  type BinaryTime,
  type BinaryValue,
  encodeBinaryValue,
  readBinaryValue,
} from "./binary-values";
export {
  connectUpstream,
  RELAYED_CAPABILITIES,
  type TlsMode,
  type UpstreamOptions,
  type UpstreamSession,
} from "./client-handshake";
export {
  type ColumnDefinition,
  isUnsigned,
  parseColumnDefinition,
  serializeColumnDefinition,
  simpleColumn,
} from "./column-definition";
export {
  type ClientCommand,
  type DecodedExecuteParams,
  decodeCommand,
  decodeExecuteParams,
  type ExecuteParam,
  type ParamType,
  type PrepareOk,
  parsePrepareOk,
  serializePrepareOk,
  serializeProcessKill,
  serializeQuery,
  serializeSimpleCommand,
} from "./commands";
export { type ConnectionRegistry, createConnectionRegistry } from "./connection-registry";
export {
  BINARY_COLLATION,
  Capability,
  ColumnFlag,
  ColumnType,
  Command,
  commandName,
  MAX_PACKET_CHUNK,
  ServerStatus,
  UTF8MB4_GENERAL_CI,
} from "./constants";
export { isProtocolError, ProtocolError, type ProtocolErrorCode, ServerError } from "./errors";
export {
  type EofPacket,
  type ErrPacket,
  endStatus,
  isEofPacket,
  isErrPacket,
  isOkPacket,
  type OkOptions,
  type OkPacket,
  parseEof,
  parseErr,
  parseOk,
  serializeEof,
  serializeErr,
  serializeOk,
} from "./generic-packets";
export {
  type AuthSwitchRequest,
  HANDSHAKE_LIMITS,
  type HandshakeResponse,
  type InitialHandshake,
  isSslRequest,
  parseAuthMoreData,
  parseAuthSwitchRequest,
  parseHandshakeResponse,
  parseInitialHandshake,
  serializeAuthSwitchRequest,
  serializeHandshakeResponse,
  serializeInitialHandshake,
  serializeSslRequest,
} from "./handshake-packets";
export { isKillStatement, type KillStatement, parseKillStatement } from "./kill-statement";
export { PacketChannel } from "./packet-channel";
export {
  DEFAULT_MAX_PAYLOAD,
  encodePacket,
  fragmentCount,
  MAX_CONFIGURABLE_PAYLOAD,
  type Packet,
  PacketReader,
  type PacketReaderOptions,
  packet,
  packetHeader,
} from "./packet-reader";
export { PayloadReader } from "./payload-reader";
export { lenencBytes, lenencInt, lenencIntSize, nulString, PayloadWriter } from "./payload-writer";
export type { TrackedStatement } from "./proxy-commands";
export { type MysqlProxy, startMysqlProxy } from "./proxy-engine";
export type {
  CellMasker,
  CommandContext,
  CommandSummary,
  KillDecision,
  KillRequest,
  MysqlProxyHooks,
  MysqlProxyLimits,
  PreparedStatementInfo,
  ProxyEnd,
  ProxyEndReason,
  ProxyStats,
  ResultContext,
  ResultMasker,
  Verdict,
  VerdictResult,
} from "./proxy-hooks";
export { type ResponsePacket, type ResponseShape, ResponseTracker } from "./response-tracker";
export { type MaskedRow, maskBinaryRow, maskTextRow } from "./row-masking";
export {
  decodeBinaryRow,
  decodeTextRow,
  encodeBinaryRow,
  encodeTextRow,
  isBinaryRow,
  nullBitmapSize,
  type RowColumn,
} from "./rows";
export {
  ACCESS_DENIED,
  AGENT_CAPABILITIES,
  BAD_HANDSHAKE,
  CLEAR_PASSWORD_PLUGIN,
  type ClientHandshakeOptions,
  type ClientLogin,
  type ClientSession,
  readClientLogin,
} from "./server-handshake";
export { createTlsUpgrader } from "./tls-upgrade";
export { SUPPORTED_AUTH_PLUGINS } from "./upstream-auth";
export { upstreamQuery } from "./upstream-query";
export { binaryValueToText, textToBinaryValue } from "./value-text";
export { withLeftover } from "./with-leftover";
