/**
 * OpenAPI documents, small but shaped like the real ones where kubectl looks:
 * - v2 is fetched as protobuf by `kubectl apply`'s validator; an empty Document (zero bytes)
 *   is a valid message with no definitions, so client-side validation simply has nothing to check;
 * - v3 lists one document per group/version. Each PATCH operation carries the GVK extension and
 *   the `fieldValidation` parameter, so kubectl leaves validation to the server, and each kind has
 *   a described schema (with merge keys) for `kubectl explain` and client-side apply's patches.
 */
import { createHash } from "node:crypto";
import { type ResourceDef, servedGroupVersions } from "./resources";

type Json = Record<string, unknown>;

const str = (description: string): Json => ({ type: "string", description });
const ref = (name: string, description: string): Json => ({
  description,
  allOf: [{ $ref: `#/components/schemas/${name}` }],
});
const mapOf = (description: string): Json => ({
  type: "object",
  description,
  additionalProperties: { type: "string", default: "" },
});
const keyedList = (item: string, key: string, description: string): Json => ({
  type: "array",
  description,
  items: { default: {}, allOf: [{ $ref: `#/components/schemas/${item}` }] },
  "x-kubernetes-list-map-keys": [key],
  "x-kubernetes-list-type": "map",
  "x-kubernetes-patch-merge-key": key,
  "x-kubernetes-patch-strategy": "merge",
});

const META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const CORE = "io.k8s.api.core.v1";

const SHARED_SCHEMAS: Record<string, Json> = {
  [META]: {
    type: "object",
    description: "ObjectMeta is metadata that all persisted resources must have.",
    properties: {
      name: str("Name must be unique within a namespace."),
      namespace: str("Namespace defines the space within which each name must be unique."),
      generateName: str("GenerateName is an optional prefix, used by the server to generate a unique name."),
      uid: str("UID is the unique in time and space value for this object."),
      resourceVersion: str("An opaque value that represents the internal version of this object."),
      generation: {
        type: "integer",
        format: "int64",
        description: "A sequence number representing a specific generation of the desired state.",
      },
      creationTimestamp: str(
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
      ),
      labels: mapOf("Map of string keys and values that can be used to organize and categorize objects."),
      annotations: mapOf("Annotations is an unstructured key value map stored with a resource."),
    },
  },
  [`${CORE}.EnvVar`]: {
    type: "object",
    description: "EnvVar represents an environment variable present in a Container.",
    required: ["name"],
    properties: {
      name: str("Name of the environment variable."),
      value: str("Variable references $(VAR_NAME) are expanded."),
    },
  },
  [`${CORE}.ContainerPort`]: {
    type: "object",
    description: "ContainerPort represents a network port in a single container.",
    required: ["containerPort"],
    properties: {
      containerPort: {
        type: "integer",
        format: "int32",
        description: "Number of port to expose on the pod's IP address.",
      },
      name: str("If specified, this must be an IANA_SVC_NAME and unique within the pod."),
      protocol: str('Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "TCP".'),
    },
  },
  [`${CORE}.Container`]: {
    type: "object",
    description: "A single application container that you want to run within a pod.",
    required: ["name"],
    properties: {
      name: str("Name of the container specified as a DNS_LABEL."),
      image: str("Container image name."),
      command: {
        type: "array",
        description: "Entrypoint array.",
        items: { type: "string", default: "" },
        "x-kubernetes-list-type": "atomic",
      },
      args: {
        type: "array",
        description: "Arguments to the entrypoint.",
        items: { type: "string", default: "" },
        "x-kubernetes-list-type": "atomic",
      },
      env: keyedList(`${CORE}.EnvVar`, "name", "List of environment variables to set in the container."),
      ports: keyedList(
        `${CORE}.ContainerPort`,
        "containerPort",
        "List of ports to expose from the container.",
      ),
      imagePullPolicy: str("Image pull policy. One of Always, Never, IfNotPresent."),
      stdin: {
        type: "boolean",
        description: "Whether this container should allocate a buffer for stdin in the container runtime.",
      },
      tty: { type: "boolean", description: "Whether this container should allocate a TTY for itself." },
    },
  },
  [`${CORE}.PodSpec`]: {
    type: "object",
    description: "PodSpec is a description of a pod.",
    required: ["containers"],
    properties: {
      containers: keyedList(`${CORE}.Container`, "name", "List of containers belonging to the pod."),
      nodeName: str("NodeName indicates in which node this pod is scheduled."),
      restartPolicy: str("Restart policy for all containers within the pod."),
      serviceAccountName: str("ServiceAccountName is the name of the ServiceAccount to use to run this pod."),
    },
  },
  [`${CORE}.PodStatus`]: {
    type: "object",
    description: "PodStatus represents information about the status of a pod.",
    properties: {
      phase: str("The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle."),
      podIP: str("podIP address allocated to the pod."),
    },
  },
  [`${CORE}.PodTemplateSpec`]: {
    type: "object",
    description: "PodTemplateSpec describes the data a pod should have when created from a template",
    properties: {
      metadata: ref(META, "Standard object's metadata."),
      spec: ref(`${CORE}.PodSpec`, "Specification of the desired behavior of the pod."),
    },
  },
  "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {
    type: "object",
    description: "A label selector is a label query over a set of resources.",
    properties: { matchLabels: mapOf("matchLabels is a map of {key,value} pairs.") },
    "x-kubernetes-map-type": "atomic",
  },
};

const TYPE_META = {
  apiVersion: str("APIVersion defines the versioned schema of this representation of an object."),
  kind: str("Kind is a string value representing the REST resource this object represents."),
  metadata: ref(META, "Standard object's metadata."),
};

const KIND_SCHEMAS: Record<string, { name: string; description: string; properties: Json }> = {
  pods: {
    name: `${CORE}.Pod`,
    description:
      "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.",
    properties: {
      spec: ref(`${CORE}.PodSpec`, "Specification of the desired behavior of the pod."),
      status: ref(`${CORE}.PodStatus`, "Most recently observed status of the pod."),
    },
  },
  namespaces: {
    name: `${CORE}.Namespace`,
    description: "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    properties: {
      spec: { type: "object", description: "Spec defines the behavior of the Namespace." },
      status: { type: "object", description: "Status describes the current status of a Namespace." },
    },
  },
  secrets: {
    name: `${CORE}.Secret`,
    description:
      "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
    properties: {
      data: {
        type: "object",
        description: "Data contains the secret data.",
        additionalProperties: { type: "string", format: "byte" },
      },
      stringData: mapOf("stringData allows specifying non-binary secret data in string form."),
      type: str("Used to facilitate programmatic handling of secret data."),
      immutable: {
        type: "boolean",
        description: "Immutable, if set to true, ensures that data stored in the Secret cannot be updated.",
      },
    },
  },
  configmaps: {
    name: `${CORE}.ConfigMap`,
    description: "ConfigMap holds configuration data for pods to consume.",
    properties: {
      data: mapOf("Data contains the configuration data."),
      binaryData: {
        type: "object",
        description: "BinaryData contains the binary data.",
        additionalProperties: { type: "string", format: "byte" },
      },
      immutable: {
        type: "boolean",
        description:
          "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated.",
      },
    },
  },
  deployments: {
    name: "io.k8s.api.apps.v1.Deployment",
    description: "Deployment enables declarative updates for Pods and ReplicaSets.",
    properties: {
      spec: ref(
        "io.k8s.api.apps.v1.DeploymentSpec",
        "Specification of the desired behavior of the Deployment.",
      ),
      status: { type: "object", description: "Most recently observed status of the Deployment." },
    },
  },
};

const DEPLOYMENT_SPEC: Json = {
  type: "object",
  description: "DeploymentSpec is the specification of the desired behavior of the Deployment.",
  required: ["selector", "template"],
  properties: {
    replicas: { type: "integer", format: "int32", description: "Number of desired pods. Defaults to 1." },
    selector: ref("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", "Label selector for pods."),
    template: ref(`${CORE}.PodTemplateSpec`, "Template describes the pods that will be created."),
  },
};

const PATCH_TYPES = [
  "application/apply-patch+yaml",
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
];

function gvk(def: ResourceDef) {
  return { group: def.group, kind: def.kind, version: def.version };
}

function pathsFor(def: ResourceDef): Record<string, Json> {
  const prefix = def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;
  const ns = def.namespaced ? "/namespaces/{namespace}" : "";
  const item = `${prefix}${ns}/${def.resource}/{name}`;
  const patch: Json = {
    description: `partially update the specified ${def.kind}`,
    operationId: `patch${def.kind}`,
    parameters: ["dryRun", "fieldManager", "fieldValidation", "force"].map((name) => ({
      name,
      in: "query",
      schema: { type: name === "force" ? "boolean" : "string", uniqueItems: true },
    })),
    requestBody: {
      content: Object.fromEntries(PATCH_TYPES.map((t) => [t, { schema: { type: "object" } }])),
      required: true,
    },
    responses: { "200": { description: "OK" } },
    "x-kubernetes-action": "patch",
    "x-kubernetes-group-version-kind": gvk(def),
  };
  return { [item]: { patch } };
}

export function groupVersionDocument(group: string, version: string): Json | undefined {
  const gv = servedGroupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return undefined;
  const schemas: Record<string, Json> = {
    ...SHARED_SCHEMAS,
    "io.k8s.api.apps.v1.DeploymentSpec": DEPLOYMENT_SPEC,
  };
  let paths: Record<string, Json> = {};
  for (const def of gv.defs) {
    const kind = KIND_SCHEMAS[def.resource];
    if (!kind) continue;
    schemas[kind.name] = {
      type: "object",
      description: kind.description,
      properties: { ...TYPE_META, ...kind.properties },
      "x-kubernetes-group-version-kind": [gvk(def)],
    };
    paths = { ...paths, ...pathsFor(def) };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.4" },
    paths,
    components: { schemas },
  };
}

function docPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** Content hash in the discovery root, as the real server uses it for client caching. */
function hashOf(group: string, version: string): string {
  const doc = JSON.stringify(groupVersionDocument(group, version));
  return createHash("sha512").update(doc).digest("hex").slice(0, 128).toUpperCase();
}

export function openApiV3Root(): Json {
  const paths: Record<string, Json> = {};
  for (const gv of servedGroupVersions()) {
    const path = docPath(gv.group, gv.version);
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hashOf(gv.group, gv.version)}` };
  }
  return { paths };
}

/** `/openapi/v3/api/v1` → the core v1 document; `/openapi/v3/apis/apps/v1` → apps/v1. */
export function openApiV3ForPath(path: string): Json | undefined {
  const parts = path.replace(/^\/openapi\/v3\//, "").split("/");
  if (parts[0] === "api" && parts.length === 2) return groupVersionDocument("", parts[1] ?? "");
  if (parts[0] === "apis" && parts.length === 3) return groupVersionDocument(parts[1] ?? "", parts[2] ?? "");
  return undefined;
}

export const OPENAPI_V2_JSON = {
  swagger: "2.0",
  info: { title: "Kubernetes", version: "v1.32.4" },
  paths: {},
  definitions: {},
};
