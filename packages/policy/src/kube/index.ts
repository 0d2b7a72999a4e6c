export { type ExecCommand, execCommand, quoteArg } from "./exec-command";
export { type KubeImpersonation, kubeImpersonationOf, MAX_IMPERSONATION_VALUES } from "./impersonation";
export { type KubeWatchOptions, KubeWatchRedactor, MAX_KUBE_DOCUMENT, redactKubeJson } from "./kube-body";
export {
  compileKubeGuard,
  type KubeDenyVerdict,
  type KubeEvaluateOptions,
  type KubeGuard,
  type KubeItem,
  type KubeReviewVerdict,
  type KubeVerdict,
} from "./kube-guard";
export { isDiscoveryRead, isReadOnly as isKubeReadOnly } from "./kube-match";
export {
  emptyTally as emptyKubeTally,
  KubeBodyError,
  type KubeRedactOptions,
  type KubeRedactTally,
  LAST_APPLIED,
  MAX_KUBE_NESTING,
  REDACTED,
  REDACTED_BASE64,
  redactKubeBody,
} from "./kube-redact";
export { kubeStatement } from "./kube-statement";
export {
  type KubeRefusal,
  type KubeRefused,
  type KubeRequestInfo,
  type KubeRequestInput,
  type KubeRequestResult,
  kubeRequestInfo,
  MAX_KUBE_PATH_LENGTH,
  MAX_KUBE_QUERY_LENGTH,
  MAX_KUBE_QUERY_PARAMS,
  parseKubeQuery,
} from "./request-info";
