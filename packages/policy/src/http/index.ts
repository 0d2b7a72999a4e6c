export {
  compileHttpGuard,
  type HttpBody,
  type HttpDenyVerdict,
  type HttpGuard,
  type HttpRequest,
  type HttpRequestHead,
  type HttpReviewVerdict,
  type HttpVerdict,
} from "./http-guard";
export {
  checkRequestHead,
  type HeadCheck,
  type HeadRefusal,
  MAX_HEADER_BYTES,
  MAX_HEADERS,
  MAX_HOST_LENGTH,
  MAX_METHOD_LENGTH,
  type RequestHead,
} from "./request-head";
export {
  MAX_QUERY_PARAMS,
  MAX_TARGET_LENGTH,
  type NormalizedTarget,
  normalizeTarget,
  type Refused as HttpRefused,
  type TargetRefusal,
  type TargetResult,
} from "./target";
