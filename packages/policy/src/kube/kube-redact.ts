import type { KubeItem } from "./kube-guard";

/**
 * Redaction of Kubernetes response bodies before they leave the agent: every value of a
 * Secret is replaced (they never reach a client, a log or a recording), ConfigMap values
 * and container `env[].value` go through the connection's content detectors, and the items
 * of a list, table or watch that the rules hide are dropped. It works on parsed JSON, in
 * place; `kube-body.ts` reads bounded bodies and watch streams into it.
 */

export const REDACTED = "[redacted by Sluice]";
/** What a Secret's `data` values become: base64 of {@link REDACTED}, so clients still decode them. */
export const REDACTED_BASE64 = Buffer.from(REDACTED, "utf8").toString("base64");
export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** Objects nested deeper than this (lists in events in annotations…) are refused, not walked. */
export const MAX_KUBE_NESTING = 8;

export interface KubeRedactOptions {
  /** The connection's content detectors over one value; left out, only secrets are redacted. */
  mask?: (value: string) => string;
  /** For list and watch responses: whether one item may be shown (`KubeGuard.allowsItem`). */
  keepItem?: (item: KubeItem) => boolean;
  /** The request's resource: with `secrets`, objects that carry no `kind` count as Secrets. */
  resource?: string;
}

export interface KubeRedactTally {
  secretValues: number;
  maskedValues: number;
  hiddenItems: number;
}

export class KubeBodyError extends Error {
  readonly code: "not_json" | "too_large" | "too_deep";

  constructor(code: KubeBodyError["code"], message: string) {
    super(message);
    this.name = "KubeBodyError";
    this.code = code;
  }
}

export function emptyTally(): KubeRedactTally {
  return { secretValues: 0, maskedValues: 0, hiddenItems: 0 };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const IMPLIED_KINDS: Record<string, string> = { secrets: "Secret", configmaps: "ConfigMap" };
const utf8 = new TextDecoder("utf-8", { fatal: true });

interface Walk {
  options: KubeRedactOptions;
  tally: KubeRedactTally;
}

/**
 * Redacts a parsed response body in place: an object, a List (`items`), a watch event
 * (`{ type, object }`), a `meta.k8s.io` Table (`rows[].object`) or a Status. Returns false
 * when the body is a watch event whose object the rules hide: the event is then not sent.
 */
export function redactKubeBody(
  body: unknown,
  options: KubeRedactOptions = {},
  tally: KubeRedactTally = emptyTally(),
): boolean {
  const implied = options.resource ? IMPLIED_KINDS[options.resource] : undefined;
  return document({ options, tally }, body, 0, implied);
}

function isWatchEvent(doc: Obj): boolean {
  return typeof doc.type === "string" && isObj(doc.object) && doc.kind === undefined;
}

function document(w: Walk, doc: unknown, depth: number, implied: string | undefined): boolean {
  if (!isObj(doc)) return true;
  if (depth > MAX_KUBE_NESTING) throw new KubeBodyError("too_deep", "the response nests objects too deeply");
  if (isWatchEvent(doc)) {
    const object = doc.object as Obj;
    if (object.kind === "Table") return table(w, object, depth + 1, implied) !== "emptied";
    document(w, object, depth + 1, implied);
    if (doc.type === "BOOKMARK" || doc.type === "ERROR") return true;
    return keep(w, object);
  }
  // Metadata-only objects (table rows, `-o name` lists) are still of the request's resource:
  // a Secret's annotations stay a Secret's annotations.
  const kind = typeof doc.kind === "string" && !(implied && isPartial(doc.kind)) ? doc.kind : implied;
  if (kind === "Table" && Array.isArray(doc.rows)) {
    table(w, doc, depth, implied);
    return true;
  }
  if (Array.isArray(doc.items)) {
    const itemKind =
      kind?.endsWith("List") && kind !== "List" && !(implied && isPartial(kind))
        ? kind.slice(0, -4)
        : implied;
    const kept = doc.items.filter((item) => {
      document(w, item, depth + 1, itemKind);
      return !isObj(item) || keep(w, item);
    });
    doc.items = kept;
    return true;
  }
  object(w, doc, kind, depth);
  return true;
}

function isPartial(kind: string): boolean {
  return kind === "PartialObjectMetadata" || kind === "PartialObjectMetadataList";
}

function table(w: Walk, doc: Obj, depth: number, implied: string | undefined): "emptied" | "kept" {
  const rows = doc.rows;
  if (!Array.isArray(rows)) return "kept";
  doc.rows = rows.filter((row) => {
    if (!isObj(row) || !isObj(row.object)) return true;
    document(w, row.object, depth + 1, implied);
    return keep(w, row.object);
  });
  return rows.length > 0 && (doc.rows as unknown[]).length === 0 ? "emptied" : "kept";
}

/** Applies the item filter; an item without a name is hidden (it cannot be judged). */
function keep(w: Walk, item: Obj): boolean {
  if (!w.options.keepItem) return true;
  const meta = isObj(item.metadata) ? item.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "";
  const namespace = typeof meta.namespace === "string" ? meta.namespace : undefined;
  const shown = name !== "" && w.options.keepItem({ name, ...(namespace ? { namespace } : {}) });
  if (!shown) w.tally.hiddenItems++;
  return shown;
}

function object(w: Walk, doc: Obj, kind: string | undefined, depth: number): void {
  if (kind === "Secret") secret(w, doc);
  else if (kind === "ConfigMap") configMap(w, doc);
  for (const spec of podSpecs(doc)) containers(w, spec);
  lastApplied(w, doc, kind, depth);
}

function secret(w: Walk, doc: Obj): void {
  for (const [field, placeholder] of [
    ["data", REDACTED_BASE64],
    ["stringData", REDACTED],
  ] as const) {
    const values = doc[field];
    if (!isObj(values)) {
      // Not a map as the API defines it: nothing of it may pass.
      if (values !== undefined && values !== null) {
        doc[field] = {};
        w.tally.secretValues++;
      }
      continue;
    }
    for (const key of Object.keys(values)) {
      values[key] = placeholder;
      w.tally.secretValues++;
    }
  }
}

function maskString(w: Walk, value: string): string {
  const mask = w.options.mask;
  if (!mask) return value;
  const out = mask(value);
  if (out !== value) w.tally.maskedValues++;
  return out;
}

function configMap(w: Walk, doc: Obj): void {
  if (!w.options.mask) return;
  if (isObj(doc.data)) {
    for (const [k, v] of Object.entries(doc.data)) if (typeof v === "string") doc.data[k] = maskString(w, v);
  }
  if (isObj(doc.binaryData)) {
    for (const [k, v] of Object.entries(doc.binaryData)) {
      if (typeof v !== "string") continue;
      let text: string;
      try {
        text = utf8.decode(Buffer.from(v, "base64"));
      } catch {
        continue; // binary content: the detectors read text only
      }
      const masked = maskString(w, text);
      if (masked !== text) doc.binaryData[k] = Buffer.from(masked, "utf8").toString("base64");
    }
  }
}

function at(v: unknown, ...path: string[]): Obj | undefined {
  let cur = v;
  for (const key of path) {
    if (!isObj(cur)) return undefined;
    cur = cur[key];
  }
  return isObj(cur) ? cur : undefined;
}

/** The pod specs of a Pod, a PodTemplate, a workload (Deployment, Job…) and a CronJob. */
function podSpecs(doc: Obj): Obj[] {
  return [
    at(doc, "spec"),
    at(doc, "template", "spec"),
    at(doc, "spec", "template", "spec"),
    at(doc, "spec", "jobTemplate", "spec", "template", "spec"),
  ].filter((s): s is Obj => s !== undefined);
}

function containers(w: Walk, spec: Obj): void {
  if (!w.options.mask) return;
  for (const field of ["containers", "initContainers", "ephemeralContainers"]) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isObj(c) || !Array.isArray(c.env)) continue;
      for (const e of c.env) if (isObj(e) && typeof e.value === "string") e.value = maskString(w, e.value);
    }
  }
}

/**
 * `kubectl apply` keeps the whole applied object, values in clear, in an annotation. It is
 * redacted as the object it holds (a Secret's becomes the redacted Secret, so a later apply
 * still computes its patch); when it cannot be read it is removed from anything that might
 * be a Secret, and masked as text elsewhere.
 */
function lastApplied(w: Walk, doc: Obj, kind: string | undefined, depth: number): void {
  const annotations = at(doc, "metadata", "annotations");
  const raw = annotations?.[LAST_APPLIED];
  if (!annotations || typeof raw !== "string") return;
  let applied: unknown;
  try {
    applied = JSON.parse(raw);
  } catch {
    applied = undefined;
  }
  if (!isObj(applied)) {
    if (kind === undefined || kind === "Secret" || kind === "PartialObjectMetadata") {
      delete annotations[LAST_APPLIED];
      w.tally.secretValues++;
    } else annotations[LAST_APPLIED] = maskString(w, raw);
    return;
  }
  const before = { ...w.tally };
  const ownKind = typeof applied.kind === "string" ? applied.kind : kind;
  if (kind === "Secret" && ownKind !== "Secret") secret(w, applied);
  document(w, applied, depth + 1, ownKind);
  if (w.tally.secretValues !== before.secretValues || w.tally.maskedValues !== before.maskedValues) {
    annotations[LAST_APPLIED] = `${JSON.stringify(applied)}${raw.endsWith("\n") ? "\n" : ""}`;
  }
}
