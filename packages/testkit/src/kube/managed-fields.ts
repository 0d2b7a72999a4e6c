/**
 * Field ownership: managedFields entries in the FieldsV1 format (`f:spec`, `k:{"name":"web"}`,
 * `.`), and server-side apply's merge, which also removes the fields a manager applied before
 * and no longer applies. Conflicts between managers are not detected: every apply acts as
 * `--force-conflicts`, which is what Sluice's tests need from a fake.
 */
import { strategicMerge } from "./patch";
import type { KubeObject } from "./store";

type Json = Record<string, unknown>;

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Json;
  subresource?: string;
}

/** List item keys matching patch.ts's merge keys; lists without one are owned whole. */
const LIST_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  env: "name",
  ports: "containerPort",
  volumes: "name",
  volumeMounts: "mountPath",
  imagePullSecrets: "name",
};

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function itemKey(key: string, item: Json): string {
  return `k:${JSON.stringify({ [key]: item[key] })}`;
}

function fieldsOf(value: Json, skipIdentity: boolean): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (skipIdentity && ["apiVersion", "kind", "status"].includes(k)) continue;
    if (k === "metadata" && isObject(v)) {
      const meta: Json = {};
      for (const part of ["labels", "annotations", "finalizers"]) {
        const sub = v[part];
        if (isObject(sub))
          meta[`f:${part}`] = Object.fromEntries(Object.keys(sub).map((key) => [`f:${key}`, {}]));
        else if (sub !== undefined) meta[`f:${part}`] = {};
      }
      if (Object.keys(meta).length) out["f:metadata"] = meta;
      continue;
    }
    const listKey = LIST_KEYS[k];
    if (Array.isArray(v) && listKey) {
      const items: Json = {};
      for (const item of v) {
        if (isObject(item)) items[itemKey(listKey, item)] = { ".": {}, ...fieldsOf(item, false) };
      }
      out[`f:${k}`] = items;
    } else if (isObject(v) && Object.keys(v).length > 0) {
      out[`f:${k}`] = fieldsOf(v, false);
    } else {
      out[`f:${k}`] = {};
    }
  }
  return out;
}

/** The fields an object (or applied configuration) sets, as FieldsV1. */
export function fieldSet(obj: KubeObject | Json): Json {
  return fieldsOf(obj as Json, true);
}

/** Removes from `target` what `before` owned and `after` does not. */
function prune(target: Json, before: Json, after: Json) {
  for (const [path, sub] of Object.entries(before)) {
    if (path === ".") continue;
    const kept = after[path];
    if (path.startsWith("f:")) {
      const field = path.slice(2);
      if (kept === undefined) delete target[field];
      else if (isObject(sub) && isObject(kept) && isObject(target[field]))
        prune(target[field] as Json, sub, kept);
      else if (isObject(sub) && isObject(kept) && Array.isArray(target[field])) {
        pruneList(target[field] as unknown[], sub, kept);
      }
    }
  }
}

function pruneList(list: unknown[], before: Json, after: Json) {
  for (const [path, sub] of Object.entries(before)) {
    if (!path.startsWith("k:")) continue;
    const selector = JSON.parse(path.slice(2)) as Json;
    const [key, value] = Object.entries(selector)[0] ?? [];
    const index = list.findIndex((item) => isObject(item) && key !== undefined && item[key] === value);
    if (index < 0) continue;
    const kept = after[path];
    if (kept === undefined) list.splice(index, 1);
    else if (isObject(sub) && isObject(kept)) prune(list[index] as Json, sub, kept);
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** Server-side apply of `applied` by `manager` onto `current` (undefined when creating). */
export function serverSideApply(
  current: KubeObject | undefined,
  applied: KubeObject,
  manager: string,
): KubeObject {
  const entries = (current?.metadata.managedFields ?? []) as unknown as ManagedFieldsEntry[];
  const previous = entries.find((e) => e.manager === manager && e.operation === "Apply");
  const merged = strategicMerge(current ?? {}, applied) as KubeObject;
  const appliedFields = fieldSet(applied);
  if (previous) prune(merged as Json, previous.fieldsV1, appliedFields);
  const entry: ManagedFieldsEntry = {
    manager,
    operation: "Apply",
    apiVersion: applied.apiVersion,
    time: now(),
    fieldsType: "FieldsV1",
    fieldsV1: appliedFields,
  };
  merged.metadata.managedFields = [
    ...entries.filter((e) => !(e.manager === manager && e.operation === "Apply")),
    entry,
  ] as unknown as Json[];
  return merged;
}

/** Records a non-apply write (create, update, patch) by `manager`, owning what the object now sets. */
export function recordUpdate(obj: KubeObject, previous: KubeObject | undefined, manager: string) {
  const entries = ((previous?.metadata.managedFields ?? []) as unknown as ManagedFieldsEntry[]).filter(
    (e) => !(e.manager === manager && e.operation === "Update"),
  );
  const { managedFields: _drop, ...meta } = obj.metadata;
  const entry: ManagedFieldsEntry = {
    manager,
    operation: "Update",
    apiVersion: obj.apiVersion,
    time: now(),
    fieldsType: "FieldsV1",
    fieldsV1: fieldSet({ ...obj, metadata: meta }),
  };
  obj.metadata.managedFields = [...entries, entry] as unknown as Json[];
}

/** The manager name the API server derives from a User-Agent: `kubectl/v1.33.1 (…)` → `kubectl`. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const first = (userAgent ?? "unknown").split("/")[0] ?? "unknown";
  return first.slice(0, 128) || "unknown";
}
