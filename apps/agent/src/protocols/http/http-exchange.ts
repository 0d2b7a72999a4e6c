import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough, pipeline, type Readable, Transform } from "node:stream";
import { createBodyMasker, type MaskingPlan, type MaskTally, type NormalizedTarget } from "@sluice/policy";
import type { Pool } from "undici";
import type { SessionContext, TargetCredential } from "../../core/broker";
import { DROP_RESPONSE, forwardableHeaders } from "../../core/http-headers";
import {
  bodyForRules,
  decide,
  heldText,
  httpGuardOf,
  POLICY_BODY_LIMIT,
  previewBody,
  readBodyPrefix,
} from "./http-policy";
import {
  BodyCapture,
  type HttpExchangeEvent,
  recordedHeaders,
  recordedQuery,
  scrubSecret,
} from "./http-recorder";
import { replyError } from "./http-reply";
import { type HttpTarget, injectCredential, type UpstreamConnectOptions } from "./http-upstream";
import { SecretScrubber } from "./secret-scrubber";

/** A request body as the recording keeps it: masked text, or only its size when it is not text. */
function recordedRequestBody(s: HttpSession, req: IncomingMessage, body: Buffer): string {
  const type = req.headers["content-type"] ?? "";
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (!TEXTUAL.test(type) || encoding !== "identity")
    return `[${body.length}+ bytes of ${type || "unknown content"}]`;
  return scrubSecret(previewBody(s.masking, body, type, s.target.recordBodyBytes), s.credential.secret);
}

/** One HTTP session: a client connection (or tunnel stream) on one Sluice connection. */
export interface HttpSession {
  ctx: SessionContext;
  target: HttpTarget;
  pool: Pool;
  /** TLS options for upstream connections outside the pool (WebSockets). */
  upstreamTls: UpstreamConnectOptions;
  credential: TargetCredential;
  /** The forms in which the injected credential could be echoed back (computed once per session). */
  echoForms: string[];
  masking: MaskingPlan | undefined;
  totals: MaskTally;
  bytesIn: number;
  bytesOut: number;
}

/** Content types whose bodies are scanned for an echoed credential. */
const TEXTUAL =
  /^\s*(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|x-ndjson|problem\+json)\b)/i;

export function upstreamHeaders(req: IncomingMessage, s: HttpSession): Record<string, string | string[]> {
  const out = forwardableHeaders(req);
  out.host = s.target.host;
  out["x-sluice-session"] = s.ctx.sessionId;
  return out;
}

export function upstreamPath(
  s: HttpSession,
  head: NormalizedTarget,
  headers: Record<string, string | string[]>,
): string {
  const query = new URLSearchParams(head.query);
  // A caller cannot choose the value of the parameter the credential is injected into.
  if (s.target.inject.kind === "query") query.delete(s.target.inject.name);
  injectCredential(s.target, s.credential, headers, query);
  const q = s.target.inject.kind === "query" ? query.toString() : head.query;
  return `${s.target.basePath}${head.path}${q ? `?${q}` : ""}`;
}

/**
 * Forwards a response body to the client, holding the latest chunk back until the next
 * arrives: the exchange is recorded and committed before the client sees the end of it,
 * so nothing a client received is missing from the recording after a crash. Event streams
 * pass through chunk by chunk (their exchange was committed when the head was sent).
 */
function holdLast(streaming: boolean, onEnd: () => void, capture: BodyCapture): Transform {
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      capture.add(chunk);
      if (streaming) return cb(null, chunk);
      const prev = held;
      held = chunk;
      cb(null, prev);
    },
    flush(cb) {
      try {
        onEnd();
      } catch (err) {
        return cb(err as Error);
      }
      cb(null, held);
    },
  });
}

/** Serves one request of an authorized session: policy, review, upstream, masking, recording. */
export async function serveExchange(
  s: HttpSession,
  req: IncomingMessage,
  res: ServerResponse,
  head: NormalizedTarget,
  expectContinue: boolean,
): Promise<void> {
  const { ctx } = s;
  const started = performance.now();
  const method = req.method ?? "GET";
  const line = `${method} ${head.path}${head.query ? `?${recordedQuery(head.query, s.target.inject.name)}` : ""}`;
  const injected = s.target.inject.kind === "header" ? s.target.inject.name.toLowerCase() : undefined;
  const ev: HttpExchangeEvent = {
    method,
    path: head.path,
    query: recordedQuery(head.query, s.target.inject.kind === "query" ? s.target.inject.name : undefined),
    requestHeaders: recordedHeaders(req.headers, injected),
  };
  const reqCapture = new BodyCapture(s.target.recordBodyBytes);
  const aborted = new AbortController();
  // Only a client that left before the response was complete cancels the exchange (an
  // abort after a finished response would only build an unused AbortError per request).
  res.once("close", () => {
    if (!res.writableFinished) aborted.abort();
  });
  const finish = (status: number, extra: Partial<HttpExchangeEvent> = {}) => {
    const reqBody = reqCapture.buffer();
    s.bytesIn += reqCapture.bytes;
    ctx.record("http.exchange", {
      ...ev,
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      bytesIn: reqCapture.bytes,
      ...(reqBody.length > 0 ? { requestBody: recordedRequestBody(s, req, reqBody) } : {}),
      ...extra,
    });
  };

  let prefix: Buffer = Buffer.alloc(0);
  let complete = false;
  const guard = httpGuardOf(ctx.policy);
  if (guard) {
    const rulesHead = { method, path: head.path, params: head.params, headers: req.headers };
    let body: ReturnType<typeof bodyForRules> | undefined;
    let verdict = guard.evaluate({ ...rulesHead, query: head.query });
    if (verdict.action !== "deny" && guard.needsBody(rulesHead)) {
      if (expectContinue) res.writeContinue();
      ({ buf: prefix, complete } = await readBodyPrefix(req, POLICY_BODY_LIMIT));
      body = bodyForRules(req, prefix, complete);
      verdict = guard.evaluate({ ...rulesHead, query: head.query, body });
    }
    if (verdict.action === "review" && !complete) {
      if (prefix.length === 0 && expectContinue) res.writeContinue();
      if (prefix.length === 0) ({ buf: prefix, complete } = await readBodyPrefix(req, POLICY_BODY_LIMIT));
      if (!complete) {
        reqCapture.add(prefix);
        finish(413, { verdict: "refused", rule: verdict.rule });
        ctx.commit();
        return replyError(
          res,
          413,
          "request.too_large",
          `requests held for review carry at most ${POLICY_BODY_LIMIT} bytes`,
          { close: true, rule: verdict.rule },
        );
      }
    }
    const decision = await decide(ctx, verdict, () => heldText(line, req, prefix, s.masking), aborted.signal);
    if (!decision.allow) {
      reqCapture.add(prefix);
      finish(decision.status, {
        verdict: verdict.action === "deny" ? "denied" : "rejected",
        rule: decision.rule ?? null,
      });
      ctx.commit();
      return replyError(res, decision.status, decision.code, decision.message, {
        ...(decision.rule ? { rule: decision.rule } : {}),
        ...(decision.reviewId ? { reviewId: decision.reviewId } : {}),
        // The body was not read: the connection cannot carry another request.
        ...(complete || !hasBody(req) ? {} : { close: true }),
      });
    }
    if (verdict.action !== "allow") ev.verdict = "approved";
    if (verdict.action !== "allow") ev.rule = verdict.rule;
  }
  if (expectContinue && prefix.length === 0 && !complete) res.writeContinue();
  if (aborted.signal.aborted) return finish(499, { error: "the client closed the connection" });

  const headers = upstreamHeaders(req, s);
  const path = upstreamPath(s, head, headers);
  const body = requestBody(req, prefix, complete, reqCapture);
  let upstream: Awaited<ReturnType<Pool["request"]>>;
  try {
    upstream = await s.pool.request({
      method: method as "GET",
      path,
      headers,
      ...(body ? { body } : {}),
      signal: aborted.signal,
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "error";
    finish(502, { error: `upstream request failed (${code})` });
    ctx.commit();
    return replyError(res, 502, "upstream.unavailable", `the upstream did not answer (${code})`);
  }
  await respond(s, res, upstream, method, finish, line);
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

function requestBody(
  req: IncomingMessage,
  prefix: Buffer,
  complete: boolean,
  capture: BodyCapture,
): Readable | Buffer | undefined {
  if (complete) {
    capture.add(prefix);
    return prefix.length > 0 ? prefix : undefined;
  }
  if (!hasBody(req) && prefix.length === 0) return undefined;
  const out = new PassThrough();
  if (prefix.length > 0) {
    capture.add(prefix);
    out.write(prefix);
  }
  req.on("data", (c: Buffer) => capture.add(c));
  req.pipe(out);
  req.resume();
  return out;
}

async function respond(
  s: HttpSession,
  res: ServerResponse,
  upstream: Awaited<ReturnType<Pool["request"]>>,
  method: string,
  finish: (status: number, extra?: Partial<HttpExchangeEvent>) => void,
  line: string,
): Promise<void> {
  const { ctx } = s;
  const status = upstream.statusCode;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || DROP_RESPONSE.has(name)) continue;
    headers[name] = Array.isArray(value)
      ? value.map((v) => scrubSecret(v, s.credential.secret))
      : scrubSecret(value, s.credential.secret);
  }
  const contentType = String(headers["content-type"] ?? "");
  const noBody = method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
  const masker =
    s.masking && !s.masking.empty && !noBody
      ? createBodyMasker(s.masking, {
          contentType,
          contentEncoding: String(headers["content-encoding"] ?? ""),
          totals: s.totals,
          otherContent: s.target.passUnmaskable ? "pass" : "refuse",
        })
      : ({ kind: "pass" } as const);
  if (masker.kind === "refuse") {
    upstream.body.destroy();
    finish(502, { verdict: "refused", error: masker.reason, responseHeaders: recordedHeaders(headers) });
    ctx.commit();
    return replyError(res, 502, "policy.unmaskable", `Sluice cannot mask this response: ${masker.reason}`);
  }
  if (masker.kind === "mask") {
    delete headers["content-length"];
    if (masker.decoded) delete headers["content-encoding"];
  }
  // Text an upstream sends may echo the credential the agent injected: it is scrubbed on the way out.
  const encoded = String(headers["content-encoding"] ?? "identity").toLowerCase() !== "identity";
  const scrubber =
    !noBody && !encoded && TEXTUAL.test(contentType) ? new SecretScrubber(s.echoForms) : undefined;
  if (scrubber?.active) delete headers["content-length"];
  /** Whether the recording can keep the body as text (masked, decoded), or only its size. */
  const readable = TEXTUAL.test(contentType) && (!encoded || (masker.kind === "mask" && masker.decoded));
  const streaming = contentType.toLowerCase().startsWith("text/event-stream");
  const capture = new BodyCapture(s.target.recordBodyBytes);
  const responseHeaders = recordedHeaders(headers);
  let recorded = false;
  const complete = (extra: Partial<HttpExchangeEvent> = {}) => {
    if (recorded) return;
    recorded = true;
    const body = capture.buffer();
    finish(status, {
      responseHeaders,
      bytesOut: capture.bytes,
      ...(body.length > 0
        ? {
            responseBody: readable
              ? scrubSecret(body.toString("utf8"), s.credential.secret)
              : `[${capture.bytes} bytes of ${contentType || "unknown content"}]`,
          }
        : {}),
      ...(capture.truncated ? { bodyTruncated: true } : {}),
      ...(streaming ? { streamed: true } : {}),
      ...extra,
    });
    if (masker.kind === "mask") {
      const counts = masker.counts();
      if (Object.keys(counts).length > 0) ctx.recordPolicy({ decision: "masked", counts, statement: line });
    }
    s.bytesOut += capture.bytes;
    ctx.commit();
  };
  if (streaming) {
    // An event stream's end may never come: its exchange is on disk before the client sees a byte.
    finish(status, { responseHeaders, streamed: true });
    ctx.commit();
  }
  res.writeHead(status, headers);
  if (noBody) {
    upstream.body.resume();
    complete();
    res.end();
    return;
  }
  const tail = holdLast(streaming, () => (streaming ? undefined : complete()), capture);
  const stages = [
    upstream.body,
    ...(masker.kind === "mask" ? [masker.transform] : []),
    ...(scrubber?.active ? [scrubber] : []),
    tail,
    res,
  ];
  await new Promise<void>((resolve) => {
    pipeline(stages as unknown as [Readable, Transform, ServerResponse], (err) => {
      if (err && !streaming) complete({ error: `response cut off: ${(err as Error).message.slice(0, 200)}` });
      if (streaming)
        ctx.record("http.stream.end", { bytesOut: capture.bytes, ...(err ? { error: "cut off" } : {}) });
      if (err) res.destroy();
      resolve();
    });
  });
}
