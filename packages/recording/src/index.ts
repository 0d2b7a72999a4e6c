export * from "./asciicast";
export * from "./events";
export type { StoredRecord } from "./frame";
export { EncodedPayload } from "./payload";
export type { PendingSession, ReadBatch, Spool, SpoolOptions } from "./spool";
export { createSpool } from "./spool";
export type { GapReason } from "./spool-reader";
export type { RecordingStream, Uploader, UploaderOptions, UploaderStats } from "./uploader";
export { createUploader } from "./uploader";
