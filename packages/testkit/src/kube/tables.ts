/**
 * Server-side printing: meta.k8s.io/v1 Table answers with the same columns and cell formats the
 * API server's printers use, so `kubectl get` and `-o wide` look like a real cluster's output.
 */
import type { ResourceDef } from "./resources";
import type { KubeObject } from "./store";

type Json = Record<string, unknown>;

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const NAME: Column = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  priority: 0,
};
const AGE: Column = {
  name: "Age",
  type: "string",
  format: "",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  priority: 0,
};

function col(name: string, type: string, description: string, priority = 0): Column {
  return { name, type, format: "", description, priority };
}

/** Kubernetes' human duration: 45s, 3m20s, 25m, 5h10m, 20h, 3d4h, 30d, 2y10d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const join = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`;
  if (minutes < 10) return join(minutes, "m", seconds % 60, "s");
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return join(hours, "h", minutes % 60, "m");
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return join(Math.floor(hours / 24), "d", hours % 24, "h");
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) return join(Math.floor(hours / 24 / 365), "y", Math.floor(hours / 24) % 365, "d");
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(obj: KubeObject): string {
  const created = obj.metadata.creationTimestamp;
  return created ? humanDuration(Date.now() - Date.parse(created)) : "<unknown>";
}

function podCells(pod: KubeObject): unknown[] {
  const spec = (pod.spec ?? {}) as Json;
  const status = (pod.status ?? {}) as Json;
  const statuses = (status.containerStatuses ?? []) as Json[];
  const total = ((spec.containers ?? []) as Json[]).length;
  const ready = statuses.filter((s) => s.ready).length;
  const restarts = statuses.reduce((n, s) => n + Number(s.restartCount ?? 0), 0);
  const phase = pod.metadata.deletionTimestamp ? "Terminating" : String(status.phase ?? "Pending");
  const gates = (spec.readinessGates ?? []) as Json[];
  return [
    pod.metadata.name,
    `${ready}/${total}`,
    phase,
    String(restarts),
    age(pod),
    String(status.podIP ?? "<none>"),
    String(spec.nodeName ?? "<none>"),
    String(status.nominatedNodeName ?? "<none>"),
    gates.length ? `0/${gates.length}` : "<none>",
  ];
}

function selectorText(selector: Json | undefined): string {
  const labels = (selector?.matchLabels ?? {}) as Record<string, string>;
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(",") : "<none>";
}

function deploymentCells(d: KubeObject): unknown[] {
  const spec = (d.spec ?? {}) as Json;
  const status = (d.status ?? {}) as Json;
  const template = ((spec.template ?? {}) as Json).spec as Json | undefined;
  const containers = (template?.containers ?? []) as Json[];
  return [
    d.metadata.name,
    `${Number(status.readyReplicas ?? 0)}/${Number(spec.replicas ?? 0)}`,
    Number(status.updatedReplicas ?? 0),
    Number(status.availableReplicas ?? 0),
    age(d),
    containers.map((c) => c.name).join(","),
    containers.map((c) => c.image).join(","),
    selectorText(spec.selector as Json | undefined),
  ];
}

interface Printer {
  columns: Column[];
  cells(obj: KubeObject): unknown[];
}

const PRINTERS: Record<string, Printer> = {
  pods: {
    columns: [
      NAME,
      col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
      col("Status", "string", "The aggregate status of the containers in this pod."),
      col("Restarts", "string", "The number of times the containers in this pod have been restarted."),
      AGE,
      col("IP", "string", "podIP address allocated to the pod.", 1),
      col("Node", "string", "NodeName is the node the pod is scheduled on.", 1),
      col("Nominated Node", "string", "nominatedNodeName is set when this pod preempts other pods.", 1),
      col(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        1,
      ),
    ],
    cells: podCells,
  },
  deployments: {
    columns: [
      NAME,
      col("Ready", "string", "Number of the pod with ready state"),
      col(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
      ),
      col(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
      ),
      AGE,
      col("Containers", "string", "Names of each container in the template.", 1),
      col("Images", "string", "Images referenced by each container in the template.", 1),
      col(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        1,
      ),
    ],
    cells: deploymentCells,
  },
  namespaces: {
    columns: [NAME, col("Status", "string", "The status of the namespace"), AGE],
    cells: (ns) => [ns.metadata.name, String(((ns.status ?? {}) as Json).phase ?? ""), age(ns)],
  },
  secrets: {
    columns: [
      NAME,
      col("Type", "string", "The type of the secret"),
      col("Data", "string", "The number of entries in the secret"),
      AGE,
    ],
    cells: (s) => [
      s.metadata.name,
      String(s.type ?? "Opaque"),
      Object.keys((s.data ?? {}) as Json).length,
      age(s),
    ],
  },
  configmaps: {
    columns: [NAME, col("Data", "string", "The number of entries in the configmap"), AGE],
    cells: (c) => [
      c.metadata.name,
      Object.keys((c.data ?? {}) as Json).length + Object.keys((c.binaryData ?? {}) as Json).length,
      age(c),
    ],
  },
};

const DEFAULT_PRINTER: Printer = { columns: [NAME, AGE], cells: (o) => [o.metadata.name, age(o)] };

/** Whether an Accept header asks for a Table (kubectl lists Table first, then plain JSON). */
export function wantsTable(accept: string): boolean {
  return accept.split(",").some((part) => {
    const p = part.replace(/\s+/g, "");
    return p.includes("as=Table") && p.includes("g=meta.k8s.io");
  });
}

export type IncludeObject = "None" | "Metadata" | "Object";

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return obj;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

export function toTable(
  def: ResourceDef,
  objects: KubeObject[],
  include: IncludeObject,
  listMeta: Json,
  withHeaders = true,
): Json {
  const printer = PRINTERS[def.resource] ?? DEFAULT_PRINTER;
  const rows = objects.map((obj) => {
    const row: Json = { cells: printer.cells(obj) };
    const object = rowObject(obj, include);
    if (object !== undefined) row.object = object;
    return row;
  });
  const table: Json = { kind: "Table", apiVersion: "meta.k8s.io/v1", metadata: listMeta };
  // Watches send the column definitions with the first event only, as the API server does.
  table.columnDefinitions = withHeaders ? printer.columns : [];
  table.rows = rows;
  return table;
}
