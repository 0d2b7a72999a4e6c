/**
 * The REST verbs on stored resources: get, list, create, update, patch (four formats),
 * delete and deletecollection, with the API server's checks and error texts.
 */
import type { IncomingHttpHeaders } from "node:http";
import { parse as parseYaml } from "yaml";
import { applyDefaults, generateSuffix } from "./defaults";
import { managerFromUserAgent, recordUpdate, serverSideApply } from "./managed-fields";
import { applyJsonPatch, applyMergePatch, strategicMerge } from "./patch";
import { decodeProtobufObject, isProtobufBody } from "./protobuf";
import { groupVersion, RESOURCES, type ResourceDef } from "./resources";
import { fieldMatcher, labelMatcher } from "./selectors";
import { badRequest, methodNotAllowed, notFound, statusError } from "./status";
import type { KubeObject, Store } from "./store";
import { type IncludeObject, toTable, wantsTable } from "./tables";

type Json = Record<string, unknown>;

export interface ResourceRequest {
  def: ResourceDef;
  namespace: string;
  name: string;
  verb: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  code: number;
  body: unknown;
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function parseBody(req: ResourceRequest): unknown {
  const type =
    String(req.headers["content-type"] ?? "application/json")
      .split(";")[0]
      ?.trim() ?? "";
  const text = req.body.toString("utf8");
  if (isProtobufBody(req.body, type)) return decodeProtobufObject(req.body);
  try {
    return type === "application/yaml" || type === "application/apply-patch+yaml"
      ? parseYaml(text)
      : JSON.parse(text);
  } catch (err) {
    throw badRequest(`the object provided is unrecognized: ${(err as Error).message}`);
  }
}

function asObject(value: unknown): KubeObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("the object provided is unrecognized (must be of type Object)");
  }
  const obj = value as KubeObject;
  obj.metadata = (obj.metadata ?? {}) as KubeObject["metadata"];
  return obj;
}

function checkKind(req: ResourceRequest, obj: KubeObject) {
  const wanted = groupVersion(req.def);
  obj.apiVersion ??= wanted;
  obj.kind ??= req.def.kind;
  if (obj.apiVersion !== wanted || obj.kind !== req.def.kind) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion}) does not match the expected API version (${wanted})`,
    );
  }
}

function placeNamespace(req: ResourceRequest, obj: KubeObject) {
  if (!req.def.namespaced) {
    delete obj.metadata.namespace;
    return;
  }
  if (obj.metadata.namespace && obj.metadata.namespace !== req.namespace) {
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  obj.metadata.namespace = req.namespace;
}

function manager(req: ResourceRequest): string {
  return req.query.get("fieldManager") ?? managerFromUserAgent(req.headers["user-agent"]);
}

function dryRun(req: ResourceRequest): boolean {
  return req.query.getAll("dryRun").includes("All");
}

function respondObject(req: ResourceRequest, obj: KubeObject, code = 200): Reply {
  if (wantsTable(String(req.headers.accept ?? ""))) {
    const include = (req.query.get("includeObject") ?? "Metadata") as IncludeObject;
    return {
      code,
      body: toTable(req.def, [obj], include, { resourceVersion: obj.metadata.resourceVersion }),
    };
  }
  return { code, body: obj };
}

export function createResourceHandler(store: Store, namespaceDef: ResourceDef) {
  function requireNamespace(req: ResourceRequest) {
    if (req.def.namespaced && !store.tryGet(namespaceDef, "", req.namespace)) {
      throw notFound("namespaces", "", req.namespace);
    }
  }

  /** Defaults, managedFields and storage for a new object; dry runs stop short of storing. */
  function insert(req: ResourceRequest, obj: KubeObject, fieldManager: string | undefined): KubeObject {
    requireNamespace(req);
    applyDefaults(req.def, obj, undefined);
    if (fieldManager) recordUpdate(obj, undefined, fieldManager);
    if (dryRun(req)) return { ...obj, metadata: { ...obj.metadata, uid: "", resourceVersion: "" } };
    return store.create(req.def, obj);
  }

  function replace(
    req: ResourceRequest,
    obj: KubeObject,
    current: KubeObject,
    fieldManager: string | undefined,
  ) {
    obj.metadata.name = current.metadata.name;
    if (req.def.namespaced) obj.metadata.namespace = current.metadata.namespace;
    obj.metadata.uid ??= current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    if (req.def.resource === "pods" || req.def.resource === "deployments") obj.status = current.status;
    applyDefaults(req.def, obj, current);
    if (fieldManager) recordUpdate(obj, current, fieldManager);
    if (dryRun(req)) return obj;
    return store.update(req.def, obj);
  }

  function list(req: ResourceRequest): Reply {
    const labels = labelMatcher(req.query.get("labelSelector"));
    const fields = fieldMatcher(req.query.get("fieldSelector"));
    const all = store.list(req.def, req.namespace).filter((o) => labels(o) && fields(o));
    // Paging: the continue token is the index of the next item, as opaque to kubectl as a real one.
    const start = Number(Buffer.from(req.query.get("continue") ?? "", "base64url").toString() || "0");
    const limit = Number(req.query.get("limit") ?? "0");
    const items = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const meta: Json = { resourceVersion: store.currentRevision() };
    const next = start + items.length;
    if (limit > 0 && next < all.length) {
      meta.continue = Buffer.from(String(next)).toString("base64url");
      meta.remainingItemCount = all.length - next;
    }
    if (wantsTable(String(req.headers.accept ?? ""))) {
      const include = (req.query.get("includeObject") ?? "Metadata") as IncludeObject;
      return { code: 200, body: toTable(req.def, items, include, meta) };
    }
    const bare = items.map(({ apiVersion: _v, kind: _k, ...rest }) => rest);
    return {
      code: 200,
      body: { kind: `${req.def.kind}List`, apiVersion: groupVersion(req.def), metadata: meta, items: bare },
    };
  }

  function create(req: ResourceRequest): Reply {
    const obj = asObject(parseBody(req));
    checkKind(req, obj);
    placeNamespace(req, obj);
    if (!obj.metadata.name && obj.metadata.generateName)
      obj.metadata.name = `${obj.metadata.generateName}${generateSuffix()}`;
    const name = obj.metadata.name;
    if (!name) {
      throw statusError(
        422,
        "Invalid",
        `${req.def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        {
          kind: req.def.kind,
          causes: [
            {
              reason: "FieldValueRequired",
              message: "Required value: name or generateName is required",
              field: "metadata.name",
            },
          ],
        },
      );
    }
    if (!NAME_RE.test(name) || name.length > 253) {
      const message = `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
      throw statusError(422, "Invalid", `${req.def.kind} "${name}" is invalid: metadata.name: ${message}`, {
        name,
        kind: req.def.kind,
        causes: [{ reason: "FieldValueInvalid", message, field: "metadata.name" }],
      });
    }
    return respondObject(req, insert(req, obj, manager(req)), 201);
  }

  function update(req: ResourceRequest): Reply {
    const obj = asObject(parseBody(req));
    checkKind(req, obj);
    placeNamespace(req, obj);
    if (obj.metadata.name !== req.name) {
      throw badRequest("the name of the object does not match the name on the URL");
    }
    const current = store.get(req.def, req.namespace, req.name);
    return respondObject(req, replace(req, obj, current, manager(req)));
  }

  function patch(req: ResourceRequest): Reply {
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      ?.trim();
    const body = parseBody(req);
    if (type === "application/apply-patch+yaml") return apply(req, asObject(body));
    const current = store.get(req.def, req.namespace, req.name);
    let patched: unknown;
    if (type === "application/json-patch+json") patched = applyJsonPatch(current, body);
    else if (type === "application/merge-patch+json") patched = applyMergePatch(current, body);
    else if (type === "application/strategic-merge-patch+json") patched = strategicMerge(current, body);
    else {
      throw statusError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
      );
    }
    const obj = asObject(patched);
    checkKind(req, obj);
    return respondObject(req, replace(req, obj, current, manager(req)));
  }

  function apply(req: ResourceRequest, applied: KubeObject): Reply {
    const fieldManager = req.query.get("fieldManager");
    if (!fieldManager) {
      throw statusError(
        422,
        "Invalid",
        `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`,
        {
          kind: "PatchOptions",
          group: "meta.k8s.io",
          causes: [
            {
              reason: "FieldValueRequired",
              message: "Required value: is required for apply patch",
              field: "fieldManager",
            },
          ],
        },
      );
    }
    checkKind(req, applied);
    placeNamespace(req, applied);
    if (applied.metadata.name && applied.metadata.name !== req.name) {
      throw badRequest("the name of the object does not match the name on the URL");
    }
    applied.metadata.name = req.name;
    const current = store.tryGet(req.def, req.namespace, req.name);
    const merged = serverSideApply(current, applied, fieldManager);
    if (!current) return respondObject(req, insert(req, merged, undefined), 201);
    merged.metadata.resourceVersion = applied.metadata.resourceVersion ?? current.metadata.resourceVersion;
    return respondObject(req, replace(req, merged, current, undefined));
  }

  /** Pods and namespaces answer with the object (they delete gracefully); the rest with a Status. */
  function deletedReply(req: ResourceRequest, gone: KubeObject): Reply {
    if (req.def.resource === "pods" || req.def.resource === "namespaces") {
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      gone.metadata.deletionTimestamp = now;
      if (req.def.resource === "pods") gone.metadata.deletionGracePeriodSeconds = 30;
      if (req.def.resource === "namespaces") gone.status = { phase: "Terminating" };
      return { code: 200, body: gone };
    }
    const details: Json = { name: gone.metadata.name };
    if (req.def.group) details.group = req.def.group;
    details.kind = req.def.resource;
    details.uid = gone.metadata.uid;
    return {
      code: 200,
      body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details },
    };
  }

  function remove(req: ResourceRequest, namespace: string, name: string): KubeObject {
    const current = store.get(req.def, namespace, name);
    if (dryRun(req)) return current;
    if (req.def.resource === "namespaces") {
      // No namespace controller: the contents go at once, then the namespace itself.
      for (const other of RESOURCES) {
        if (!other.namespaced) continue;
        for (const obj of store.list(other, name)) store.remove(other, name, obj.metadata.name);
      }
    }
    return store.remove(req.def, namespace, name);
  }

  function deleteOne(req: ResourceRequest): Reply {
    if (req.body.length > 0) {
      const options = parseBody(req) as Json;
      const pre = (options?.preconditions ?? {}) as Json;
      const current = store.get(req.def, req.namespace, req.name);
      if (
        (pre.uid && pre.uid !== current.metadata.uid) ||
        (pre.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
      ) {
        throw statusError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${req.def.resource} "${req.name}": Precondition failed`,
          {
            name: req.name,
            kind: req.def.resource,
          },
        );
      }
    }
    return deletedReply(req, remove(req, req.namespace, req.name));
  }

  function deleteCollection(req: ResourceRequest): Reply {
    const labels = labelMatcher(req.query.get("labelSelector"));
    const fields = fieldMatcher(req.query.get("fieldSelector"));
    const gone = store
      .list(req.def, req.namespace)
      .filter((o) => labels(o) && fields(o))
      .map((o) => remove(req, o.metadata.namespace ?? "", o.metadata.name));
    const items = gone.map(({ apiVersion: _v, kind: _k, ...rest }) => rest);
    return {
      code: 200,
      body: {
        kind: `${req.def.kind}List`,
        apiVersion: groupVersion(req.def),
        metadata: { resourceVersion: store.currentRevision() },
        items,
      },
    };
  }

  return function handle(req: ResourceRequest): Reply {
    switch (req.verb) {
      case "get":
        return respondObject(req, store.get(req.def, req.namespace, req.name));
      case "list":
        return list(req);
      case "create":
        return create(req);
      case "update":
        return update(req);
      case "patch":
        return patch(req);
      case "delete":
        return deleteOne(req);
      case "deletecollection":
        return deleteCollection(req);
      default:
        throw methodNotAllowed();
    }
  };
}
