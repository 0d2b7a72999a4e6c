/**
 * What the API server's registry strategies and the controllers would add to an object:
 * defaults, generation, and a status that says "running and ready", since there is no real
 * kubelet or deployment controller behind the fake.
 */
import { randomBytes } from "node:crypto";
import type { ResourceDef } from "./resources";
import { invalid } from "./status";
import type { KubeObject } from "./store";

type Json = Record<string, unknown>;

const RANDOM_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export function generateSuffix(): string {
  return [...randomBytes(5)].map((b) => RANDOM_ALPHABET[b % RANDOM_ALPHABET.length]).join("");
}

function containers(obj: KubeObject): Json[] {
  const spec = (obj.spec ?? {}) as Json;
  return Array.isArray(spec.containers) ? (spec.containers as Json[]) : [];
}

let podIpCounter = 0;

function podStatus(obj: KubeObject, previous: KubeObject | undefined): Json {
  const old = (previous?.status ?? {}) as Json;
  const now = (old.startTime as string | undefined) ?? new Date().toISOString().replace(/\.\d+Z$/, "Z");
  podIpCounter += 1;
  const conditions = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
  ].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: now }));
  return {
    phase: "Running",
    conditions,
    hostIP: "127.0.0.1",
    hostIPs: [{ ip: "127.0.0.1" }],
    podIP: (old.podIP as string | undefined) ?? `10.244.0.${(podIpCounter % 250) + 2}`,
    startTime: now,
    containerStatuses: containers(obj).map((c) => ({
      name: c.name,
      state: { running: { startedAt: now } },
      lastState: {},
      ready: true,
      restartCount: 0,
      image: c.image,
      imageID: `${String(c.image)}@sha256:${"0".repeat(64)}`,
      containerID: `containerd://${randomBytes(32).toString("hex")}`,
      started: true,
    })),
    qosClass: "BestEffort",
  };
}

function defaultPod(obj: KubeObject, previous: KubeObject | undefined) {
  const spec = (obj.spec ?? {}) as Json;
  if (containers(obj).length === 0) {
    throw invalid("Pod", obj.metadata.name, "spec.containers", "Required value");
  }
  for (const c of containers(obj)) {
    c.terminationMessagePath ??= "/dev/termination-log";
    c.terminationMessagePolicy ??= "File";
    c.imagePullPolicy ??=
      String(c.image).endsWith(":latest") || !String(c.image).includes(":") ? "Always" : "IfNotPresent";
    c.resources ??= {};
  }
  spec.restartPolicy ??= "Always";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= "ClusterFirst";
  spec.serviceAccountName ??= "default";
  spec.nodeName ??= "fake-node";
  spec.schedulerName ??= "default-scheduler";
  spec.securityContext ??= {};
  obj.spec = spec;
  obj.status = podStatus(obj, previous);
}

/** Available and Progressing, keeping their timestamps from before as the controller does. */
function deploymentConditions(obj: KubeObject, previous: KubeObject | undefined): Json[] {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const before = (((previous?.status ?? {}) as Json).conditions ?? []) as Json[];
  const condition = (type: string, reason: string, message: string): Json => {
    const old = before.find((c) => c.type === type);
    const since = (old?.lastTransitionTime as string | undefined) ?? now;
    return {
      type,
      status: "True",
      lastUpdateTime: (old?.lastUpdateTime as string | undefined) ?? now,
      lastTransitionTime: since,
      reason,
      message,
    };
  };
  return [
    condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
    condition(
      "Progressing",
      "NewReplicaSetAvailable",
      `ReplicaSet "${obj.metadata.name}" has successfully progressed.`,
    ),
  ];
}

function defaultDeployment(obj: KubeObject, previous: KubeObject | undefined) {
  const spec = (obj.spec ?? {}) as Json;
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
  obj.spec = spec;
  const oldSpec = JSON.stringify(previous?.spec ?? null);
  const generation = previous?.metadata.generation ?? 0;
  obj.metadata.generation = !previous || oldSpec !== JSON.stringify(spec) ? generation + 1 : generation;
  const replicas = Number(spec.replicas);
  obj.status = {
    observedGeneration: obj.metadata.generation,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: replicas,
    availableReplicas: replicas,
    conditions: deploymentConditions(obj, previous),
  };
  if (replicas === 0) {
    for (const key of ["readyReplicas", "availableReplicas"]) delete (obj.status as Json)[key];
  }
}

function defaultSecret(obj: KubeObject) {
  obj.type ??= "Opaque";
  // stringData is write-only: the API server folds it into data.
  const stringData = obj.stringData as Record<string, string> | undefined;
  if (stringData) {
    const data = (obj.data ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString("base64");
    obj.data = data;
    delete obj.stringData;
  }
}

function defaultNamespace(obj: KubeObject) {
  obj.metadata.labels = { ...obj.metadata.labels, "kubernetes.io/metadata.name": obj.metadata.name };
  obj.spec = { finalizers: ["kubernetes"] };
  obj.status = { phase: "Active" };
}

/** Fills defaults and status in place before the object is stored. */
export function applyDefaults(def: ResourceDef, obj: KubeObject, previous: KubeObject | undefined) {
  if (def.resource === "pods") defaultPod(obj, previous);
  if (def.resource === "deployments") defaultDeployment(obj, previous);
  if (def.resource === "secrets") defaultSecret(obj);
  if (def.resource === "namespaces") defaultNamespace(obj);
}

/** The container names of a pod, for exec/attach/log container checks. */
export function podContainerNames(pod: KubeObject): string[] {
  return containers(pod).map((c) => String(c.name));
}
