import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  compileHttpGuard,
  type HttpBody,
  type HttpGuard,
  type HttpRequestHead,
  type HttpVerdict,
  type MaskingPlan,
  maskBodyPreview,
} from "@sluice/policy";
import type { SessionContext } from "../../core/broker";
import { type Decision, decideHeld } from "../../core/held-decision";

export { readBodyPrefix } from "../../core/http-body";

import type { CompiledPolicy } from "../../core/policy-compiler";
import { hasDuplicateKeys } from "./json-keys";

/** Bodies a rule reads (JSON conditions) or a reviewer approves are buffered up to this size. */
export const POLICY_BODY_LIMIT = 1024 * 1024;
/** How much of a held request's body the reviewer sees (masked). */
const PREVIEW_BYTES = 2048;

const guards = new WeakMap<CompiledPolicy, HttpGuard>();

/** The HTTP guard of a connection's compiled policy, compiled once per policy version. */
export function httpGuardOf(policy: CompiledPolicy | undefined): HttpGuard | undefined {
  if (!policy) return undefined;
  let g = guards.get(policy);
  if (!g) {
    g = compileHttpGuard(policy.documents);
    guards.set(policy, g);
  }
  return g.active ? g : undefined;
}

function isJsonType(contentType: string | undefined): boolean {
  const t = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return t === "application/json" || t.endsWith("+json");
}

/** The body as request rules read it: parsed JSON, or why it cannot be (the rules then fail closed). */
export function bodyForRules(req: IncomingMessage, buf: Buffer, complete: boolean): HttpBody {
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding !== "identity") return { unreadable: `the body is ${encoding}-encoded` };
  if (!complete) return { unreadable: `the body is larger than ${POLICY_BODY_LIMIT} bytes` };
  if (buf.length === 0) return { unreadable: "the request has no body" };
  if (!isJsonType(req.headers["content-type"])) return { unreadable: "the body is not JSON" };
  const text = buf.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { unreadable: "the body is not valid JSON" };
  }
  if (hasDuplicateKeys(text)) return { unreadable: "the body repeats a key in one object" };
  return { json };
}

/** A body preview as a recording or a reviewer sees it: masked by the connection's rules. */
export function previewBody(
  plan: MaskingPlan | undefined,
  bytes: Buffer,
  contentType: string | undefined,
  limit: number,
): string {
  const cut = bytes.subarray(0, limit);
  if (cut.length === 0) return "";
  if (plan && !plan.empty) return maskBodyPreview(plan, cut, contentType ?? "");
  return cut.toString("utf8");
}

/**
 * The text a reviewer approves, bound by its SHA-256: the request line, its content type,
 * the SHA-256 of the whole body (so the approval is for these exact bytes), then a masked
 * preview.
 */
export function heldText(
  line: string,
  req: IncomingMessage,
  body: Buffer,
  plan: MaskingPlan | undefined,
): string {
  if (body.length === 0) return line;
  const hash = createHash("sha256").update(body).digest("hex");
  const type = req.headers["content-type"] ?? "";
  const preview = previewBody(plan, body, type, PREVIEW_BYTES);
  return `${line}\ncontent-type: ${type.slice(0, 200)}\nbody-sha256: ${hash}\n\n${preview}`;
}

/** Applies a verdict to a request: records denials, holds reviews while the client waits. */
export function decide(
  ctx: Pick<SessionContext, "requestReview" | "recordPolicy">,
  verdict: HttpVerdict,
  text: () => string,
  signal: AbortSignal,
): Promise<Decision> {
  return decideHeld(ctx, "http", verdict, text, signal);
}

export type { HttpRequestHead };
