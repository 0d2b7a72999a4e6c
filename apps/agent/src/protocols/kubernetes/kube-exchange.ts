import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { PassThrough, pipeline, type Readable } from "node:stream";
import type { NormalizedTarget } from "@sluice/policy";
import { kubeImpersonationOf, kubeStatement } from "@sluice/policy";
import type { Pool } from "undici";
import { decideHeld } from "../../core/held-decision";
import { readBodyPrefix } from "../../core/http-body";
import { DROP_RESPONSE, forwardableHeaders } from "../../core/http-headers";
import { type KubeCall, type KubeGuardView, kubeGuardOf, redactionFor } from "./kube-policy";
import { IMPERSONATE_HEADER, type KubeSession } from "./kube-session";
import { replyStatus } from "./kube-status";

/** A request held for review carries at most this much body (the API server's own limit is 3 MiB). */
const HELD_BODY_LIMIT = 3 * 1024 * 1024;

/**
 * The headers sent upstream: the client's, minus its credentials and hop-by-hop fields,
 * plus the agent's credential and the identity the request impersonates. Client
 * impersonation headers pass only when policy allowed them (`keepClientImpersonation`).
 */
export function upstreamHeaders(
  s: KubeSession,
  req: IncomingMessage,
  opts: { keepClientImpersonation: boolean; plainJson: boolean },
): Record<string, string | string[]> {
  const out = forwardableHeaders(
    req,
    (name) => IMPERSONATE_HEADER.test(name) && !opts.keepClientImpersonation,
  );
  out.host = s.target.host;
  if (s.credential.secret) out.authorization = `Bearer ${s.credential.secret}`;
  if (s.identity && !opts.keepClientImpersonation) {
    out["impersonate-user"] = s.identity.user;
    if (s.identity.groups.length > 0) out["impersonate-group"] = s.identity.groups;
  }
  if (opts.plainJson) {
    // A body the agent must read comes back as JSON (not protobuf) and uncompressed.
    out.accept = jsonAccept(String(req.headers.accept ?? ""));
    delete out["accept-encoding"];
  }
  return out;
}

/** The client's Accept without protobuf; plain JSON when nothing else is left. */
export function jsonAccept(accept: string): string {
  const kept = accept
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p && !/protobuf/i.test(p));
  return kept.length > 0 ? kept.join(", ") : "application/json";
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

type Refusal = { ok: false; status: number; code: string; message: string; rule?: string; reviewId?: string };

/**
 * Client impersonation (`kubectl --as`): refused unless an allow rule with `impersonate`
 * covers it; when allowed, the client's Impersonate-* headers go upstream instead of the
 * identity's own.
 */
export function impersonationCheck(
  guard: KubeGuardView,
  req: IncomingMessage,
  call: KubeCall,
): { ok: true; keepClientImpersonation: boolean } | Refusal {
  let asked: ReturnType<typeof kubeImpersonationOf>;
  try {
    asked = kubeImpersonationOf(req.headers);
  } catch (err) {
    return { ok: false, status: 400, code: "request.invalid", message: (err as Error).message };
  }
  if (!asked) return { ok: true, keepClientImpersonation: false };
  const verdict = guard.impersonation(call.attrs, asked, call.command ? { command: call.command } : {});
  if (verdict.action === "allow") return { ok: true, keepClientImpersonation: true };
  return {
    ok: false,
    status: 403,
    code: "policy.denied",
    message: `impersonation (kubectl --as) is not allowed through Sluice on this connection (${verdict.message})`,
    rule: verdict.rule,
  };
}

/** Applies policy to a call: client impersonation, then the request itself (deny, hold for review). */
async function admit(
  s: KubeSession,
  guard: KubeGuardView,
  req: IncomingMessage,
  call: KubeCall,
  body: () => Promise<{ buf: Buffer; complete: boolean } | undefined>,
  signal: AbortSignal,
): Promise<{ ok: true; keepClientImpersonation: boolean; verdict?: string; rule?: string } | Refusal> {
  const impersonation = impersonationCheck(guard, req, call);
  if (!impersonation.ok) return impersonation;
  const { keepClientImpersonation } = impersonation;
  const verdict = guard.evaluate(call.attrs, call.command ? { command: call.command } : {});
  if (verdict.action === "allow") return { ok: true, keepClientImpersonation };
  let text = call.statement;
  if (verdict.action === "review") {
    const read = await body();
    if (read && !read.complete) {
      return {
        ok: false,
        status: 413,
        code: "request.too_large",
        message: `requests held for review carry at most ${HELD_BODY_LIMIT} bytes`,
        rule: verdict.rule,
      };
    }
    if (read && read.buf.length > 0) {
      // The approval is for these exact bytes.
      text += `\nbody-sha256: ${createHash("sha256").update(read.buf).digest("hex")}`;
    }
  }
  const decision = await decideHeld(s.ctx, "kubernetes", verdict, () => text, signal);
  if (!decision.allow) return { ok: false, ...decision };
  return { ok: true, keepClientImpersonation, verdict: "approved", rule: verdict.rule };
}

/** Serves one Kubernetes API request: policy, impersonation, upstream, redaction, recording. */
export async function serveKubeRequest(
  s: KubeSession,
  req: IncomingMessage,
  res: ServerResponse,
  target: NormalizedTarget,
  initial: KubeCall,
  expectContinue: boolean,
): Promise<void> {
  const { ctx } = s;
  let call = initial;
  const started = performance.now();
  const guard = kubeGuardOf(ctx.policy);
  const aborted = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) aborted.abort();
  });
  let held: { buf: Buffer; complete: boolean } | undefined;
  const body = async () => {
    if (!hasBody(req)) return undefined;
    if (!held) {
      if (expectContinue) res.writeContinue();
      held = await readBodyPrefix(req, HELD_BODY_LIMIT);
    }
    return held;
  };
  // A create names its object in the body: rules on names judge the name being created
  // (a body that cannot be read leaves it unnamed, which rules on names match: fail closed).
  if (
    guard.active &&
    call.attrs.verb === "create" &&
    call.attrs.name === "" &&
    call.attrs.subresource === ""
  ) {
    const named = createdName(await body());
    if (named)
      call = {
        ...call,
        attrs: { ...call.attrs, name: named },
        statement: kubeStatement({ ...call.attrs, name: named }),
      };
  }
  const { attrs } = call;
  const ev: Record<string, unknown> = {
    verb: attrs.verb,
    group: attrs.apiGroup,
    resource: attrs.resource,
    subresource: attrs.subresource,
    namespace: attrs.namespace,
    name: attrs.name,
    path: target.path.slice(0, 500),
    ...(s.identity ? { user: s.identity.user } : {}),
  };
  const record = (status: number, extra: Record<string, unknown> = {}) => {
    ctx.record("kube.request", {
      ...ev,
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...extra,
    });
    ctx.commit();
  };

  const admitted = await admit(s, guard, req, call, body, aborted.signal);
  if (!admitted.ok) {
    record(admitted.status, {
      verdict:
        admitted.code === "policy.denied" ? "denied" : admitted.status === 413 ? "refused" : "rejected",
      rule: admitted.rule ?? null,
    });
    return replyStatus(res, admitted.status, admitted.code, admitted.message, {
      ...(admitted.rule ? { rule: admitted.rule } : {}),
      ...(admitted.reviewId ? { reviewId: admitted.reviewId } : {}),
      ...(hasBody(req) && !held?.complete ? { close: true } : {}),
    });
  }
  if (aborted.signal.aborted) return record(499, { error: "the client closed the connection" });
  if (expectContinue && !held) res.writeContinue();

  const redaction = redactionFor(s, guard, attrs);
  const headers = upstreamHeaders(s, req, {
    keepClientImpersonation: admitted.keepClientImpersonation,
    plainJson: redaction !== undefined,
  });
  let upstream: Awaited<ReturnType<Pool["request"]>>;
  try {
    upstream = await s.pool.request({
      method: (req.method ?? "GET") as "GET",
      path: `${target.path}${target.query ? `?${target.query}` : ""}`,
      headers,
      ...requestBody(req, held),
      signal: aborted.signal,
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "error";
    record(502, { error: `upstream request failed (${code})` });
    return replyStatus(
      res,
      502,
      "upstream.unavailable",
      `the Kubernetes API server did not answer (${code})`,
    );
  }
  const verdictFields = admitted.verdict ? { verdict: admitted.verdict, rule: admitted.rule } : {};
  const status = upstream.statusCode;
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value !== undefined && !DROP_RESPONSE.has(name)) out[name] = value;
  }
  if (!redaction) {
    res.writeHead(status, out);
    let bytes = 0;
    upstream.body.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    if (attrs.verb === "watch") record(status, { ...verdictFields, watch: true });
    await new Promise<void>((resolve) => {
      pipeline(upstream.body, res, (err) => {
        s.bytesOut += bytes;
        if (attrs.verb === "watch")
          ctx.record("kube.watch.end", { bytesOut: bytes, ...(err ? { error: "cut off" } : {}) });
        else
          record(status, {
            ...verdictFields,
            bytesOut: bytes,
            ...(err ? { error: "response cut off" } : {}),
          });
        resolve();
      });
    });
    return;
  }
  const type = String(out["content-type"] ?? "");
  const encoded = String(out["content-encoding"] ?? "identity").toLowerCase() !== "identity";
  if (!/json/i.test(type) || encoded) {
    upstream.body.destroy();
    record(502, {
      ...verdictFields,
      verdict: "refused",
      error: `unreadable response (${type || "no content type"})`,
    });
    return replyStatus(
      res,
      502,
      "policy.unmaskable",
      `Sluice cannot redact this response (${type || "no content type"}${encoded ? ", compressed" : ""})`,
    );
  }
  delete out["content-length"];
  res.writeHead(status, out);
  if (attrs.verb === "watch") {
    record(status, { ...verdictFields, watch: true });
    const watch = redaction.watch();
    await new Promise<void>((resolve) => {
      pipeline(upstream.body, watch.transform, res, (err) => {
        s.bytesOut += watch.bytes();
        ctx.record("kube.watch.end", {
          ...watch.tally(),
          bytesOut: watch.bytes(),
          ...(err ? { error: "cut off" } : {}),
        });
        try {
          ctx.commit();
        } catch {
          // The session's end reports a recording failure.
        }
        resolve();
      });
    });
    return;
  }
  const document = redaction.document((r) =>
    // Recorded and committed before the client sees the body: nothing a client received is
    // missing from the recording after a crash.
    record(status, { ...verdictFields, ...r.tally(), bytesOut: r.bytes() }),
  );
  await new Promise<void>((resolve) => {
    pipeline(upstream.body, document.transform, res, (err) => {
      s.bytesOut += document.bytes();
      if (err && document.bytes() === 0)
        record(status, {
          ...verdictFields,
          verdict: "refused",
          error: `response not redactable: ${err.message.slice(0, 200)}`,
        });
      if (err) res.destroy();
      resolve();
    });
  });
}

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** The envelope kubectl's typed clients send protobuf bodies in: `k8s\0`, then a runtime.Unknown. */
const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** `metadata.name` of an object being created (JSON or protobuf body), when it is a valid object name. */
export function createdName(read: { buf: Buffer; complete: boolean } | undefined): string | undefined {
  if (!read?.complete || read.buf.length === 0) return undefined;
  const name = read.buf.subarray(0, 4).equals(PROTOBUF_MAGIC)
    ? protobufName(read.buf.subarray(4))
    : jsonName(read.buf);
  return name !== undefined && OBJECT_NAME.test(name) ? name : undefined;
}

function jsonName(buf: Buffer): string | undefined {
  try {
    const name = (JSON.parse(buf.toString("utf8")) as { metadata?: { name?: unknown } })?.metadata?.name;
    return typeof name === "string" ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * runtime.Unknown field 2 (raw) holds the object; every Kubernetes object has its
 * ObjectMeta as field 1 and ObjectMeta has the name as field 1.
 */
function protobufName(unknown: Buffer): string | undefined {
  const raw = protobufField(unknown, 2);
  const meta = raw && protobufField(raw, 1);
  const name = meta && protobufField(meta, 1);
  return name?.toString("utf8");
}

/** The first length-delimited field `wanted` of a protobuf message; undefined when absent or malformed. */
function protobufField(msg: Buffer, wanted: number): Buffer | undefined {
  let i = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35 && i < msg.length; shift += 7) {
      const b = msg[i++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    return undefined;
  };
  while (i < msg.length) {
    const tag = varint();
    if (tag === undefined) return undefined;
    const type = tag & 7;
    if (type === 0) {
      if (varint() === undefined) return undefined;
    } else if (type === 1) i += 8;
    else if (type === 5) i += 4;
    else if (type === 2) {
      const len = varint();
      if (len === undefined || i + len > msg.length) return undefined;
      if (tag >>> 3 === wanted) return msg.subarray(i, i + len);
      i += len;
    } else return undefined;
  }
  return undefined;
}

function requestBody(
  req: IncomingMessage,
  held: { buf: Buffer; complete: boolean } | undefined,
): { body?: Readable | Buffer } {
  if (held?.complete) return held.buf.length > 0 ? { body: held.buf } : {};
  if (!hasBody(req)) return {};
  const out = new PassThrough();
  // What was read for policy goes first, then the rest as it arrives.
  if (held && held.buf.length > 0) out.write(held.buf);
  req.pipe(out);
  req.resume();
  return { body: out };
}
