import {
  BackendCode,
  backend,
  type NoticeFields,
  parseNoticeFields,
  parseNotificationResponse,
  parseParameterStatus,
} from "@sluice/pg-wire";
import type { TextMasker } from "@sluice/policy";

/** What replaces text that may quote a value a column rule masks. */
export const HIDDEN = "(hidden by Sluice: this connection masks column values)";
const REDACTED = "****";

/** Fields that are codes or numbers, never text: severity, SQLSTATE, positions, source line. */
const STRUCTURAL = new Set(["S", "V", "C", "P", "p", "L"]);
/** Fields that hold free text a message may quote values in. */
const FREE_TEXT = new Set(["M", "D", "H", "W", "q"]);
/** PL/pgSQL routines that emit text written by user code (RAISE, ASSERT). */
const RAISING_ROUTINES = new Set(["exec_stmt_raise", "exec_stmt_assert"]);
/** Reported settings whose values the server checks to be keywords, booleans or numbers (drivers rely on them): never changed. */
const KEYWORD_SETTINGS = new Set([
  "client_encoding",
  "datestyle",
  "default_transaction_read_only",
  "in_hot_standby",
  "integer_datetimes",
  "intervalstyle",
  "is_superuser",
  "scram_iterations",
  "server_encoding",
  "server_version",
  "standard_conforming_strings",
]);
/** Reported settings that hold names the server checks (a role, a time zone): content detectors only. */
const NAME_SETTINGS = new Set(["session_authorization", "timezone"]);

/** How much of an error or notice may quote a value a column rule masks. */
const Exposure = {
  /** Only content detectors apply. */
  None: 0,
  /** Data exceptions, integrity violations, notices: DETAIL/CONTEXT hidden, quoted literals masked. */
  Quoted: 1,
  /** Written by user code (RAISE, ASSERT): every free-text field hidden. */
  UserText: 2,
} as const;
type Exposure = (typeof Exposure)[keyof typeof Exposure];

function exposure(fields: NoticeFields, notice: boolean): Exposure {
  const code = fields.C ?? "";
  if (code.startsWith("P0") || RAISING_ROUTINES.has(fields.R ?? "")) return Exposure.UserText;
  if (notice || code.startsWith("22") || code.startsWith("23")) return Exposure.Quoted;
  return Exposure.None;
}

/** PostgreSQL double-quotes values in messages; everything from the first quote to the last becomes `"****"`. */
export function maskQuoted(text: string): string {
  const first = text.indexOf('"');
  if (first < 0) return text;
  const last = text.lastIndexOf('"');
  return `${text.slice(0, first)}"${REDACTED}"${last > first ? text.slice(last + 1) : ""}`;
}

/** The masked fields of an ErrorResponse or NoticeResponse, or undefined when nothing changed. */
export function maskNoticeFields(
  fields: NoticeFields,
  notice: boolean,
  masker: TextMasker,
): NoticeFields | undefined {
  const level = masker.wholeValues ? exposure(fields, notice) : Exposure.None;
  const out: NoticeFields = Object.create(null);
  let changed = false;
  for (const [k, v] of Object.entries(fields)) {
    let text = v;
    if (!STRUCTURAL.has(k)) {
      if (level === Exposure.UserText && FREE_TEXT.has(k)) text = HIDDEN;
      else if (level === Exposure.Quoted && (k === "D" || k === "W" || k === "q")) text = HIDDEN;
      else if (level === Exposure.Quoted && FREE_TEXT.has(k)) text = maskQuoted(text);
      if (text !== HIDDEN) text = masker.mask(text) ?? text;
    }
    if (text !== v) changed = true;
    out[k] = text;
  }
  return changed ? out : undefined;
}

function maskFreeText(text: string, masker: TextMasker): string {
  if (masker.wholeValues && text.length > 0) return HIDDEN;
  return masker.mask(text) ?? text;
}

/**
 * Masks the messages that carry server text outside DataRows on a masked connection:
 * ErrorResponse and NoticeResponse fields, NotificationResponse payloads and
 * ParameterStatus values. Takes a whole frame (`buf[start]` is its type byte) and
 * returns the frame to send instead, or undefined to send it unchanged.
 */
export function maskMessageFrame(
  buf: Buffer,
  start: number,
  end: number,
  masker: TextMasker,
): Buffer | undefined {
  const type = buf[start];
  const body = buf.subarray(start + 5, end);
  if (type === BackendCode.ErrorResponse || type === BackendCode.NoticeResponse) {
    const notice = type === BackendCode.NoticeResponse;
    const masked = maskNoticeFields(parseNoticeFields(body), notice, masker);
    if (!masked) return undefined;
    return notice ? backend.noticeResponse(masked) : backend.errorResponse(masked);
  }
  if (type === BackendCode.NotificationResponse) return maskNotification(body, masker);
  if (type === BackendCode.ParameterStatus) {
    const { name, value } = parseParameterStatus(body);
    const setting = name.toLowerCase();
    if (KEYWORD_SETTINGS.has(setting)) return undefined;
    const masked = NAME_SETTINGS.has(setting) ? (masker.mask(value) ?? value) : maskFreeText(value, masker);
    return masked === value ? undefined : backend.parameterStatus(name, masked);
  }
  return undefined;
}

function maskNotification(body: Buffer, masker: TextMasker): Buffer | undefined {
  const { processId, channel, payload } = parseNotificationResponse(body);
  const maskedChannel = masker.mask(channel) ?? channel;
  const maskedPayload = maskFreeText(payload, masker);
  if (maskedChannel === channel && maskedPayload === payload) return undefined;
  return backend.notificationResponse(processId, maskedChannel, maskedPayload);
}
