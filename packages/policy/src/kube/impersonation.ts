/**
 * Impersonation a client asks the API server for (`kubectl --as`, `--as-group`,
 * `--as-uid`): the `Impersonate-*` headers. The agent strips them unless the guard's
 * `impersonation` verdict allows them; every impersonated request goes through `evaluate`
 * as well.
 */
export interface KubeImpersonation {
  user?: string;
  groups: string[];
  uid?: string;
  /** The keys of `Impersonate-Extra-<key>` headers, lower-cased. */
  extra: string[];
}

export const MAX_IMPERSONATION_VALUES = 100;
const MAX_VALUE = 1024;

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

function valuesOf(raw: string | readonly string[] | undefined): string[] {
  if (raw === undefined) return [];
  return typeof raw === "string" ? [raw] : [...raw];
}

/**
 * The impersonation a request's headers ask for (lower-case names, as node gives them), or
 * `undefined` when there is none. Too many or too long values are refused with an Error:
 * the caller answers 400 rather than forward a request it could not read whole.
 */
export function kubeImpersonationOf(headers: Headers): KubeImpersonation | undefined {
  const out: KubeImpersonation = { groups: [], extra: [] };
  let seen = 0;
  for (const [rawName, raw] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!name.startsWith("impersonate-")) continue;
    const values = valuesOf(raw);
    seen += values.length;
    if (seen > MAX_IMPERSONATION_VALUES || values.some((v) => v.length > MAX_VALUE)) {
      throw new Error("the request's Impersonate-* headers are too many or too long");
    }
    if (name === "impersonate-user") {
      if (out.user !== undefined || values.length !== 1) throw new Error("Impersonate-User is repeated");
      out.user = values[0] as string;
    } else if (name === "impersonate-group") out.groups.push(...values);
    else if (name === "impersonate-uid") {
      if (out.uid !== undefined || values.length !== 1) throw new Error("Impersonate-Uid is repeated");
      out.uid = values[0] as string;
    } else if (name.startsWith("impersonate-extra-")) out.extra.push(name.slice("impersonate-extra-".length));
    // Any other Impersonate-* header is unknown to Sluice: count it as a request to impersonate.
    else out.extra.push(name);
  }
  return seen === 0 ? undefined : out;
}
