import { MAX_COMMAND_LENGTH } from "../commands/command-guard";
import type { RequestDenyVerdict, RequestReviewVerdict, RequestVerdict } from "../request-verdicts";
import type { KubeImpersonate, PolicyDocument, ReviewRule } from "../rules";
import { type ExecCommand, quoteArg } from "./exec-command";
import type { KubeImpersonation } from "./impersonation";
import { type CompiledKubeMatch, compileKubeMatch, compileNameGlob, type KubeView } from "./kube-match";
import { kubeStatement } from "./kube-statement";
import type { KubeRequestInfo } from "./request-info";

/** `statement` is the request as `kubeStatement` names it; built-in rules have empty policy fields. */
export type KubeDenyVerdict = RequestDenyVerdict;
export type KubeReviewVerdict = RequestReviewVerdict;
export type KubeVerdict = RequestVerdict;

/**
 * Exec commands. A rule's `kube.commands` are regexes (case-insensitive, as the SSH command
 * guard's) on an exec's `command` parameters joined by spaces, and apply to `pods/exec`
 * only. What a shell does with typed input is invisible to the agent, so an allow rule
 * with `commands` never matches an exec with stdin or a tty, and attach (typed input
 * only) is matched only by rules without `commands`. A deny-by-default exec policy:
 *
 *   { name: "diagnostics", action: "allow",
 *     kube: { resources: ["pods/exec"], namespaces: ["prod"], commands: ["^ls( |$)", "^cat /var/log/"] } },
 *   { name: "no-other-exec",
 *     kube: { resources: ["pods/exec", "pods/attach", "pods/ephemeralcontainers"] } }
 *
 * The allow lane admits only those non-interactive commands; the trailing rule denies
 * every other exec, every interactive shell, attach and `kubectl debug`. (Creating pods
 * or workloads runs code too: a policy that means "no code" denies those writes as well.)
 */
export interface KubeEvaluateOptions {
  /** For `pods/exec` and `pods/attach`: `execCommand(query)` of the request. */
  command?: ExecCommand;
}

/** One item of a list or watch response, from its `metadata`. */
export interface KubeItem {
  namespace?: string;
  name: string;
}

export interface KubeGuard {
  /** False when no policy has a kube rule: requests are allowed (impersonation still is not). */
  readonly active: boolean;
  evaluate(info: KubeRequestInfo, options?: KubeEvaluateOptions): KubeVerdict;
  /**
   * Whether one item of an allowed list or watch response may be shown: it is hidden when a
   * get of that item, or the same list narrowed to it, would be denied. Review verdicts do
   * not hide (the list itself was held when a review rule covered it).
   */
  allowsItem(info: KubeRequestInfo, item: KubeItem): boolean;
  /**
   * Impersonation (`kubectl --as`, `Impersonate-*` headers) is refused unless an allow
   * guardrail with `kube.impersonate` matches the request and covers every identity asked
   * for. Unlike other requests this is default deny, and it is a permission rather than a
   * lane: rule order does not matter, one such rule in any policy suffices, and the request
   * itself must still pass `evaluate`, where every policy's deny applies as usual.
   */
  impersonation(info: KubeRequestInfo, as: KubeImpersonation, options?: KubeEvaluateOptions): KubeVerdict;
}

interface CompiledRule {
  name: string;
  action: "deny" | "review" | "allow";
  message?: string;
  match: CompiledKubeMatch;
}

interface CompiledPolicy {
  doc: PolicyDocument;
  guardrails: CompiledRule[];
  reviews: { rule: ReviewRule; match: CompiledKubeMatch }[];
  /** Where a guardrail with `action: review` is routed: the policy's first review rule. */
  router: ReviewRule | undefined;
}

const ALLOW: KubeVerdict = { action: "allow" };

function compilePolicy(doc: PolicyDocument): CompiledPolicy {
  const guardrails: CompiledRule[] = [];
  for (const g of doc.guardrails) {
    if (!g.kube) continue;
    guardrails.push({
      name: g.name,
      action: g.action ?? "deny",
      ...(g.message ? { message: g.message } : {}),
      match: compileKubeMatch(g.kube, g.readOnly === true),
    });
  }
  const reviews = doc.reviewRules.flatMap((r) =>
    r.kube ? [{ rule: r, match: compileKubeMatch(r.kube, false) }] : [],
  );
  return { doc, guardrails, reviews, router: doc.reviewRules[0] };
}

function globsFit(globs: string[] | undefined, values: string[]): boolean {
  if (values.length === 0) return true;
  if (!globs?.length) return false;
  const compiled = globs.map(compileNameGlob);
  return values.every((v) => compiled.some((g) => g.test(v)));
}

/** Whether a rule's `impersonate` covers every identity the request asks for. */
function identityFits(allowed: KubeImpersonate | undefined, as: KubeImpersonation): boolean {
  if (allowed === undefined || allowed === false) return false;
  if (allowed === true) return true;
  // A uid or extra fields pin more than a user and groups: only `impersonate: true` allows them.
  if (as.uid !== undefined || as.extra.length > 0) return false;
  return (
    globsFit(allowed.users, as.user === undefined ? [] : [as.user]) && globsFit(allowed.groups, as.groups)
  );
}

function describeIdentity(as: KubeImpersonation): string {
  const parts = [
    ...(as.user !== undefined ? [`as ${quoteArg(as.user)}`] : []),
    ...(as.groups.length ? [`groups ${as.groups.map(quoteArg).join(",")}`] : []),
    ...(as.uid !== undefined ? [`uid ${quoteArg(as.uid)}`] : []),
    ...(as.extra.length ? [`extra ${as.extra.map(quoteArg).join(",")}`] : []),
  ];
  return parts.join(" ");
}

/** The request as it would read for one item: that item's namespace and name, no selectors. */
function narrow(info: KubeRequestInfo, namespace: string, name: string): KubeRequestInfo {
  const { labelSelector: _label, fieldSelector: _field, ...rest } = info;
  return { ...rest, namespace, name };
}

/**
 * Compiles the kube rules of a connection's policies. Each policy is judged on its own:
 * its guardrails in order, first match wins (allow, deny or review; a review guardrail goes
 * to the policy's first review rule, a deny when it has none); when none matches, its
 * review rules. Across policies the strictest verdict wins (deny, then review, then allow),
 * so one policy's allow lane never lifts another policy's deny.
 */
export function compileKubeGuard(documents: PolicyDocument[]): KubeGuard {
  const policies = documents.map(compilePolicy).filter((p) => p.guardrails.length + p.reviews.length > 0);
  const active = policies.length > 0;
  const hasCommands = policies.some(
    (p) => p.guardrails.some((r) => r.match.hasCommands) || p.reviews.some((r) => r.match.hasCommands),
  );

  function deny(p: CompiledPolicy, rule: CompiledRule, statement: string): KubeVerdict {
    return {
      action: "deny",
      rule: rule.name,
      policyId: p.doc.id,
      policyName: p.doc.name,
      message: rule.message ?? `request blocked by policy rule ${rule.name}`,
      statement,
    };
  }

  function review(p: CompiledPolicy, rule: string, to: ReviewRule, statement: string): KubeVerdict {
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
      statement,
    };
  }

  function decide(p: CompiledPolicy, view: KubeView, statement: string): KubeVerdict {
    for (const rule of p.guardrails) {
      if (!rule.match.matches(view, rule.action)) continue;
      if (rule.action === "allow") return ALLOW;
      // A guardrail that asks for review without a review rule to route it to is a deny.
      if (rule.action === "review" && p.router) return review(p, rule.name, p.router, statement);
      return deny(p, rule, statement);
    }
    for (const { rule, match } of p.reviews) {
      if (match.matches(view, "review")) return review(p, rule.name, rule, statement);
    }
    return ALLOW;
  }

  function evaluate(info: KubeRequestInfo, options: KubeEvaluateOptions = {}): KubeVerdict {
    if (!active) return ALLOW;
    const statement = kubeStatement(info, options.command);
    if (hasCommands && options.command && options.command.line.length > MAX_COMMAND_LENGTH) {
      return {
        action: "deny",
        rule: "sluice.command_too_long",
        policyId: "",
        policyName: "",
        message: `commands longer than ${MAX_COMMAND_LENGTH} characters are refused on this connection`,
        statement: kubeStatement(info),
      };
    }
    const view: KubeView = { info, ...(options.command ? { command: options.command } : {}) };
    let held: KubeVerdict | undefined;
    for (const p of policies) {
      const verdict = decide(p, view, statement);
      if (verdict.action === "deny") return verdict;
      if (verdict.action === "review") held ??= verdict;
    }
    return held ?? ALLOW;
  }

  return {
    active,
    evaluate,
    allowsItem(info, item) {
      if (!active || (info.verb !== "list" && info.verb !== "watch")) return true;
      const namespace =
        item.namespace ||
        info.namespace ||
        (info.resource === "namespaces" && !info.subresource ? item.name : "");
      const narrowed = narrow(info, namespace, item.name);
      if (evaluate(narrowed).action === "deny") return false;
      return evaluate({ ...narrowed, verb: "get" }).action !== "deny";
    },
    impersonation(info, as, options = {}) {
      const view: KubeView = { info, ...(options.command ? { command: options.command } : {}) };
      for (const p of policies) {
        for (const rule of p.guardrails) {
          if (rule.action !== "allow" || !identityFits(rule.match.impersonate, as)) continue;
          if (rule.match.matches(view, "allow")) return ALLOW;
        }
      }
      const who = describeIdentity(as);
      return {
        action: "deny",
        rule: "sluice.impersonation",
        policyId: "",
        policyName: "",
        message: `impersonation (${who}) is refused: no allow rule with kube.impersonate permits it here`,
        statement: `${kubeStatement(info, options.command)} ${who}`,
      };
    },
  };
}
