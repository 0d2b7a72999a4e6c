/**
 * The fake cluster's storage: objects keyed by resource, namespace and name, one global
 * resourceVersion counter (like etcd's revision), and an event history that watches resume from.
 */
import { randomUUID } from "node:crypto";
import type { ResourceDef } from "./resources";
import { alreadyExists, conflict, notFound, statusError } from "./status";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  managedFields?: Record<string, unknown>[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  rv: number;
  resourceKey: string;
  namespace: string;
  object: KubeObject;
}

/** How many past events a watch can resume from; older resourceVersions are answered from "now". */
const HISTORY_LIMIT = 5000;

export function resourceKey(def: Pick<ResourceDef, "group" | "resource">): string {
  return `${def.group}/${def.resource}`;
}

function objectKey(def: ResourceDef, namespace: string, name: string): string {
  return `${resourceKey(def)}|${def.namespaced ? namespace : ""}|${name}`;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function createStore() {
  const objects = new Map<string, KubeObject>();
  const history: StoreEvent[] = [];
  const listeners = new Set<(event: StoreEvent) => void>();
  let revision = 1;

  function emit(type: EventType, def: ResourceDef, obj: KubeObject) {
    const event: StoreEvent = {
      type,
      rv: Number(obj.metadata.resourceVersion),
      resourceKey: resourceKey(def),
      namespace: obj.metadata.namespace ?? "",
      object: clone(obj),
    };
    history.push(event);
    if (history.length > HISTORY_LIMIT) history.shift();
    for (const listener of listeners) listener(event);
  }

  function stamp(obj: KubeObject) {
    revision += 1;
    obj.metadata.resourceVersion = String(revision);
  }

  return {
    currentRevision: () => String(revision),

    get(def: ResourceDef, namespace: string, name: string): KubeObject {
      const found = objects.get(objectKey(def, namespace, name));
      if (!found) throw notFound(def.resource, def.group, name);
      return clone(found);
    },

    tryGet(def: ResourceDef, namespace: string, name: string): KubeObject | undefined {
      const found = objects.get(objectKey(def, namespace, name));
      return found && clone(found);
    },

    /** Objects of one resource, in one namespace ("" = all), sorted by namespace then name like etcd keys. */
    list(def: ResourceDef, namespace: string): KubeObject[] {
      const prefix = `${resourceKey(def)}|`;
      return [...objects.entries()]
        .filter(
          ([key, obj]) => key.startsWith(prefix) && (!namespace || obj.metadata.namespace === namespace),
        )
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, obj]) => clone(obj));
    },

    create(def: ResourceDef, obj: KubeObject): KubeObject {
      const key = objectKey(def, obj.metadata.namespace ?? "", obj.metadata.name);
      if (objects.has(key)) throw alreadyExists(def.resource, def.group, obj.metadata.name);
      const stored = clone(obj);
      stored.metadata.uid = randomUUID();
      stored.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      stamp(stored);
      objects.set(key, stored);
      emit("ADDED", def, stored);
      return clone(stored);
    },

    /**
     * Replaces an object. A resourceVersion in the new object must match the stored one
     * (optimistic concurrency); identity fields always come from the stored object.
     */
    update(def: ResourceDef, obj: KubeObject): KubeObject {
      const key = objectKey(def, obj.metadata.namespace ?? "", obj.metadata.name);
      const current = objects.get(key);
      if (!current) throw notFound(def.resource, def.group, obj.metadata.name);
      const wanted = obj.metadata.resourceVersion;
      if (wanted && wanted !== current.metadata.resourceVersion) {
        throw conflict(def.resource, def.group, obj.metadata.name);
      }
      if (obj.metadata.uid && obj.metadata.uid !== current.metadata.uid) {
        throw statusError(409, "Conflict", `Precondition failed: UID in precondition: ${obj.metadata.uid}`);
      }
      const stored = clone(obj);
      stored.metadata.uid = current.metadata.uid;
      stored.metadata.creationTimestamp = current.metadata.creationTimestamp;
      stamp(stored);
      objects.set(key, stored);
      emit("MODIFIED", def, stored);
      return clone(stored);
    },

    remove(def: ResourceDef, namespace: string, name: string): KubeObject {
      const key = objectKey(def, namespace, name);
      const current = objects.get(key);
      if (!current) throw notFound(def.resource, def.group, name);
      objects.delete(key);
      const gone = clone(current);
      stamp(gone);
      emit("DELETED", def, gone);
      return clone(gone);
    },

    /** Past events after `afterRv` for replay, then every new event until the returned function is called. */
    subscribe(
      afterRv: number,
      onEvent: (event: StoreEvent) => void,
    ): { past: StoreEvent[]; stop: () => void } {
      const past = history.filter((e) => e.rv > afterRv);
      listeners.add(onEvent);
      return { past, stop: () => listeners.delete(onEvent) };
    },

    clear() {
      listeners.clear();
    },
  };
}

export type Store = ReturnType<typeof createStore>;
