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

/** Reads up to `limit` bytes of a request body; `complete` is false when more is left unread. */
export function readBodyPrefix(
  req: IncomingMessage,
  limit: number,
): Promise<{ buf: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      resolve({ buf: Buffer.concat(parts, size), complete });
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    const onError = (err: Error) => {
      req.off("data", onData);
      req.off("end", onEnd);
      reject(err);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    if (req.readableEnded) done(true);
  });
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

export type Decision =
  | { allow: true }
  | { allow: false; status: number; code: string; message: string; rule?: string; reviewId?: string };

/** Applies a verdict: records denials, holds reviews while the client waits. */
export async function decide(
  ctx: Pick<SessionContext, "requestReview" | "recordPolicy">,
  verdict: HttpVerdict,
  text: () => string,
  signal: AbortSignal,
): Promise<Decision> {
  if (verdict.action === "allow") return { allow: true };
  const statement = text();
  const base = { rule: verdict.rule, policyId: verdict.policyId, policy: verdict.policyName, statement };
  if (verdict.action === "deny") {
    ctx.recordPolicy({ decision: "denied", ...base });
    return { allow: false, status: 403, code: "policy.denied", message: verdict.message, rule: verdict.rule };
  }
  const outcome = await ctx.requestReview(
    { kind: "http", text: statement, verdict },
    (p) => ctx.recordPolicy({ decision: "held", ...base, reviewId: p.reviewId }),
    signal,
  );
  if (outcome.approved) {
    ctx.recordPolicy({ decision: "approved", ...base, reviewId: outcome.reviewId });
    return { allow: true };
  }
  ctx.recordPolicy({
    decision: "rejected",
    ...base,
    ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
    reason: outcome.reason,
  });
  return {
    allow: false,
    status: 403,
    code: "policy.review_rejected",
    message: `Sluice: ${outcome.reason} (rule ${verdict.rule})`,
    rule: verdict.rule,
    ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
  };
}

export type { HttpRequestHead };
