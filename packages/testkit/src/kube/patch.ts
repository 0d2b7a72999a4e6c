/**
 * The three patch formats kubectl sends: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
 * strategic merge patch, whose lists of named things (containers, env, ports, volumes…) merge
 * by key instead of being replaced, with the `$patch`, `$setElementOrder`, `$retainKeys` and
 * `$deleteFromPrimitiveList` directives kubectl's three-way diff produces.
 */
import { badRequest, statusError } from "./status";

type Json = unknown;
type JsonObject = Record<string, Json>;

function isObject(v: Json): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---- JSON patch --------------------------------------------------------------------------

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/"))
    throw badRequest(`the server rejected our request due to an error in our request`);
  return path
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, parts: string[], op: string, path: string): { parent: Json; key: string } {
  let cur = doc;
  for (const part of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(part)] : isObject(cur) ? cur[part] : undefined;
    if (cur === undefined)
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  return { parent: cur, key: parts[parts.length - 1] ?? "" };
}

function unprocessable(message: string) {
  return statusError(422, "Invalid", message);
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const part of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(part)] : isObject(cur) ? cur[part] : undefined;
    if (cur === undefined) throw unprocessable(`doc is missing path: "${path}"`);
  }
  return cur;
}

function removeAt(doc: Json, path: string, op: string): Json {
  const { parent, key } = parentOf(doc, pointer(path), op, path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length))
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}"`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) {
    throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean, op: string): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const { parent, key } = parentOf(doc, parts, op, path);
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length))
      throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}"`);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(key in parent))
      throw unprocessable(`replace operation does not apply: doc is missing key: ${path}`);
    parent[key] = value;
  } else {
    throw unprocessable(`${op} operation does not apply: doc is missing path: "${path}"`);
  }
  return doc;
}

export function applyJsonPatch(doc: Json, patch: Json): Json {
  if (!Array.isArray(patch))
    throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  let out = structuredClone(doc);
  for (const raw of patch) {
    if (!isObject(raw)) throw badRequest("invalid JSON patch operation");
    const op = String(raw.op);
    const path = String(raw.path ?? "");
    if (op === "add") out = addAt(out, path, structuredClone(raw.value), false, op);
    else if (op === "replace") out = addAt(out, path, structuredClone(raw.value), true, op);
    else if (op === "remove") removeAt(out, path, op);
    else if (op === "move") out = addAt(out, path, removeAt(out, String(raw.from), op), false, op);
    else if (op === "copy") out = addAt(out, path, structuredClone(getAt(out, String(raw.from))), false, op);
    else if (op === "test") {
      if (JSON.stringify(getAt(out, path)) !== JSON.stringify(raw.value)) {
        throw unprocessable(`testing value ${path} failed: test failed`);
      }
    } else throw badRequest(`Unexpected kind: ${op}`);
  }
  return out;
}

// ---- JSON merge patch --------------------------------------------------------------------

export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

// ---- strategic merge patch ---------------------------------------------------------------

/** Merge keys of the list fields in the types we serve (from the Go struct tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  ports: "containerPort",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  imagePullSecrets: "name",
  hostAliases: "ip",
  conditions: "type",
  ownerReferences: "uid",
  topologySpreadConstraints: "topologyKey",
  resourceClaims: "name",
};

/** Primitive lists whose patch strategy is "merge" (union) rather than replace. */
const MERGED_PRIMITIVE_LISTS = new Set(["finalizers"]);

function mergeList(field: string, current: Json[], patch: Json[], order: Json[] | undefined): Json[] {
  const key = MERGE_KEYS[field];
  if (!key) {
    if (!MERGED_PRIMITIVE_LISTS.has(field)) return structuredClone(patch);
    const out = [...current];
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  const out = current.map((item) => structuredClone(item));
  for (const item of patch) {
    if (!isObject(item)) continue;
    const index = out.findIndex((o) => isObject(o) && o[key] === item[key]);
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (item.$patch === "replace") {
      const { $patch: _drop, ...rest } = item;
      if (index >= 0) out[index] = rest;
      else out.push(rest);
      continue;
    }
    if (index >= 0) out[index] = strategicMerge(out[index], item);
    else out.push(strategicMerge({}, item));
  }
  if (!order) return out;
  // $setElementOrder names the wanted order; items it does not name keep their place at the end.
  const rank = (item: Json) => {
    const i = order.findIndex((o) => isObject(o) && isObject(item) && o[key] === item[key]);
    return i < 0 ? order.length : i;
  };
  return out
    .map((item, i) => ({ item, i }))
    .sort((a, b) => rank(a.item) - rank(b.item) || a.i - b.i)
    .map((x) => x.item);
}

export function strategicMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _drop, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  const retain = Array.isArray(patch.$retainKeys) ? new Set(patch.$retainKeys.map(String)) : undefined;
  for (const [key, value] of Object.entries(patch)) {
    if (key === "$patch" || key === "$retainKeys" || key.startsWith("$setElementOrder/")) continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const list = out[field];
      if (Array.isArray(list) && Array.isArray(value)) out[field] = list.filter((v) => !value.includes(v));
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const order = patch[`$setElementOrder/${key}`];
    const current = out[key];
    if (Array.isArray(value)) {
      out[key] = mergeList(
        key,
        Array.isArray(current) ? current : [],
        value,
        Array.isArray(order) ? order : undefined,
      );
    } else {
      const merged = strategicMerge(current, value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    }
  }
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith("$setElementOrder/") || !Array.isArray(order)) continue;
    const field = key.slice("$setElementOrder/".length);
    if (!(field in patch) && Array.isArray(out[field])) {
      out[field] = mergeList(field, out[field] as Json[], [], order);
    }
  }
  if (retain) {
    for (const key of Object.keys(out)) if (!retain.has(key)) delete out[key];
  }
  return out;
}
