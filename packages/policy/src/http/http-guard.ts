import type { RequestDenyVerdict, RequestReviewVerdict, RequestVerdict } from "../request-verdicts";
import type { PolicyDocument, ReviewRule } from "../rules";
import {
  type CompiledMatch,
  compileMatch,
  type HttpBody,
  type HttpRequestHead,
  type MatchMode,
  type RequestView,
  viewOf,
} from "./http-match";

export type { HttpBody, HttpRequestHead } from "./http-match";

export interface HttpRequest extends HttpRequestHead {
  /** The raw query (`NormalizedTarget.query`), only used to name the request in verdicts. */
  query?: string;
  /** The buffered body; leave it out when the body was not read. */
  body?: HttpBody;
}

/** `statement` is the request line (`POST /payments?x=1`). */
export type HttpDenyVerdict = RequestDenyVerdict;
export type HttpReviewVerdict = RequestReviewVerdict;
export type HttpVerdict = RequestVerdict;

export interface HttpGuard {
  /** False when no policy has an HTTP rule: every request is allowed without reading it. */
  readonly active: boolean;
  /**
   * Whether the verdict for this head can depend on the body: the caller then buffers a
   * bounded body and passes it (or `{ unreadable }`) to `evaluate`.
   */
  needsBody(head: HttpRequestHead): boolean;
  evaluate(request: HttpRequest): HttpVerdict;
}

interface CompiledRule {
  name: string;
  action: "deny" | "review" | "allow";
  message?: string;
  match: CompiledMatch;
}

interface CompiledPolicy {
  doc: PolicyDocument;
  guardrails: CompiledRule[];
  reviews: { rule: ReviewRule; match: CompiledMatch }[];
  /** Where a guardrail with `action: review` is routed: the policy's first review rule. */
  router: ReviewRule | undefined;
}

const ALLOW: HttpVerdict = { action: "allow" };

function modeOf(action: CompiledRule["action"]): MatchMode {
  return action === "allow" ? "allow" : "block";
}

function compilePolicy(doc: PolicyDocument): CompiledPolicy {
  const guardrails: CompiledRule[] = [];
  for (const g of doc.guardrails) {
    if (!g.http) continue;
    guardrails.push({
      name: g.name,
      action: g.action ?? "deny",
      ...(g.message ? { message: g.message } : {}),
      match: compileMatch(g.http, g.readOnly === true),
    });
  }
  const reviews = doc.reviewRules.flatMap((r) =>
    r.http ? [{ rule: r, match: compileMatch(r.http, false) }] : [],
  );
  return { doc, guardrails, reviews, router: doc.reviewRules[0] };
}

/**
 * Compiles the HTTP rules of a connection's policies. Each policy is judged on its own:
 * its guardrails in order, first match wins (allow, deny or review); when none matches,
 * its review rules. Across policies the strictest verdict wins (deny, then review, then
 * allow), so one policy's allow lane never lifts another policy's deny.
 */
export function compileHttpGuard(documents: PolicyDocument[]): HttpGuard {
  const policies = documents.map(compilePolicy).filter((p) => p.guardrails.length + p.reviews.length > 0);
  const active = policies.length > 0;

  function statementOf(r: HttpRequest): string {
    return `${r.method} ${r.path}${r.query ? `?${r.query}` : ""}`;
  }

  function deny(p: CompiledPolicy, rule: CompiledRule, r: HttpRequest): HttpVerdict {
    return {
      action: "deny",
      rule: rule.name,
      policyId: p.doc.id,
      policyName: p.doc.name,
      message: rule.message ?? `request blocked by policy rule ${rule.name}`,
      statement: statementOf(r),
    };
  }

  function review(p: CompiledPolicy, rule: string, to: ReviewRule, r: HttpRequest): HttpVerdict {
    return {
      action: "review",
      rule,
      policyId: p.doc.id,
      policyName: p.doc.name,
      reviewRule: to.name,
      reviewerGroups: [...to.reviewerGroups],
      minApprovals: to.minApprovals ?? 1,
      timeoutSeconds: to.timeoutSeconds ?? 600,
      message: `request held for review by policy rule ${rule}`,
      statement: statementOf(r),
    };
  }

  function decide(p: CompiledPolicy, view: RequestView, r: HttpRequest): HttpVerdict {
    for (const rule of p.guardrails) {
      const mode = modeOf(rule.action);
      if (!rule.match.head(view, mode) || !rule.match.body(r.body, mode)) continue;
      if (rule.action === "allow") return ALLOW;
      // A guardrail that asks for review without a review rule to route it to is a deny.
      if (rule.action === "review" && p.router) return review(p, rule.name, p.router, r);
      return deny(p, rule, r);
    }
    for (const { rule, match } of p.reviews) {
      if (match.head(view, "block") && match.body(r.body, "block")) return review(p, rule.name, rule, r);
    }
    return ALLOW;
  }

  return {
    active,
    needsBody(head) {
      if (!active) return false;
      const view = viewOf(head);
      for (const p of policies) {
        const decider = p.guardrails.find((rule) => rule.match.head(view, modeOf(rule.action)));
        if (decider) {
          if (decider.match.hasBody) return true;
          // Denied whatever the body says: the earlier policies did not need it either.
          if (decider.action === "deny" || (decider.action === "review" && !p.router)) return false;
          continue;
        }
        if (p.reviews.some(({ match }) => match.hasBody && match.head(view, "block"))) return true;
      }
      return false;
    },
    evaluate(request) {
      if (!active) return ALLOW;
      const view = viewOf(request);
      let held: HttpVerdict | undefined;
      for (const p of policies) {
        const verdict = decide(p, view, request);
        if (verdict.action === "deny") return verdict;
        if (verdict.action === "review") held ??= verdict;
      }
      return held ?? ALLOW;
    },
  };
}
