/**
 * Reading the Kubernetes protobuf bodies kubectl ≥ 1.32 sends from its typed clients
 * (`create namespace|secret|configmap|deployment`, `auth can-i`, `auth whoami`); answers stay
 * JSON, which those clients accept. A body is "k8s\0" then a runtime.Unknown
 * {1: typeMeta {1: apiVersion, 2: kind}, 2: raw object}. The schemas below carry the field
 * numbers of k8s.io/api's generated.proto for the fields Sluice's tests create.
 */
import { badRequest } from "./status";

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type FieldType =
  | "string"
  | "bytes"
  | "int"
  | "bool"
  | "quantity"
  | "intOrString"
  | { msg: Schema }
  | { repeated: FieldType }
  | { map: FieldType };

/** Field number → [JSON name, type, keep zero values (pointer fields such as replicas)]. */
type Schema = Record<number, [string, FieldType, boolean?]>;

type Raw = Buffer | number;

function readVarint(buf: Buffer, start: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let pos = start;
  for (;;) {
    if (pos >= buf.length || shift > 49) throw badRequest("malformed protobuf varint");
    const byte = buf[pos] ?? 0;
    pos += 1;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, pos];
    shift += 7;
  }
}

function decodeFields(buf: Buffer): Map<number, Raw[]> {
  const fields = new Map<number, Raw[]>();
  const add = (n: number, v: Raw) => fields.set(n, [...(fields.get(n) ?? []), v]);
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    pos = afterTag;
    if (wire === 0) {
      const [value, next] = readVarint(buf, pos);
      add(field, value);
      pos = next;
    } else if (wire === 2) {
      const [length, start] = readVarint(buf, pos);
      if (start + length > buf.length) throw badRequest("malformed protobuf field length");
      add(field, buf.subarray(start, start + length));
      pos = start + length;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else {
      throw badRequest(`unsupported protobuf wire type ${wire}`);
    }
  }
  return fields;
}

function decodeValue(raw: Raw, type: FieldType): unknown {
  if (type === "int") return typeof raw === "number" ? raw : 0;
  if (type === "bool") return raw === 1;
  const bytes = typeof raw === "number" ? Buffer.alloc(0) : raw;
  if (type === "string") return bytes.toString("utf8");
  if (type === "bytes") return bytes.toString("base64");
  if (type === "quantity") return decodeFields(bytes).get(1)?.[0]?.toString() ?? "";
  if (type === "intOrString") {
    const f = decodeFields(bytes);
    return f.get(1)?.[0] === 1 ? (f.get(3)?.[0]?.toString() ?? "") : Number(f.get(2)?.[0] ?? 0);
  }
  if (typeof type === "object" && "msg" in type) return decodeMessage(bytes, type.msg);
  throw badRequest("unsupported protobuf field type");
}

function isZero(v: unknown): boolean {
  return (
    v === "" || v === 0 || v === false || (typeof v === "object" && v !== null && Object.keys(v).length === 0)
  );
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [n, raws] of decodeFields(buf)) {
    const entry = schema[n];
    if (!entry) continue;
    const [name, type, keepZero] = entry;
    let value: unknown;
    if (typeof type === "object" && "repeated" in type) {
      value = raws.map((r) => decodeValue(r, type.repeated));
    } else if (typeof type === "object" && "map" in type) {
      const map: Record<string, unknown> = {};
      for (const r of raws) {
        const kv = decodeFields(typeof r === "number" ? Buffer.alloc(0) : r);
        const key = kv.get(1)?.[0];
        const v = kv.get(2)?.[0];
        map[Buffer.isBuffer(key) ? key.toString() : ""] = v === undefined ? "" : decodeValue(v, type.map);
      }
      value = map;
    } else {
      value = decodeValue(raws[raws.length - 1] as Raw, type);
    }
    // gogo protobuf writes every non-pointer field; JSON omits empty ones, so drop them here too.
    if (keepZero || !isZero(value)) out[name] = value;
  }
  return out;
}

const OBJECT_META: Schema = {
  1: ["name", "string"],
  2: ["generateName", "string"],
  3: ["namespace", "string"],
  5: ["uid", "string"],
  6: ["resourceVersion", "string"],
  7: ["generation", "int"],
  11: ["labels", { map: "string" }],
  12: ["annotations", { map: "string" }],
  14: ["finalizers", { repeated: "string" }],
};
const META = { msg: OBJECT_META };
const LABEL_SELECTOR: Schema = {
  1: ["matchLabels", { map: "string" }],
  2: [
    "matchExpressions",
    {
      repeated: {
        msg: { 1: ["key", "string"], 2: ["operator", "string"], 3: ["values", { repeated: "string" }] },
      },
    },
  ],
};
const CONTAINER: Schema = {
  1: ["name", "string"],
  2: ["image", "string"],
  3: ["command", { repeated: "string" }],
  4: ["args", { repeated: "string" }],
  5: ["workingDir", "string"],
  6: [
    "ports",
    {
      repeated: {
        msg: {
          1: ["name", "string"],
          2: ["hostPort", "int"],
          3: ["containerPort", "int"],
          4: ["protocol", "string"],
          5: ["hostIP", "string"],
        },
      },
    },
  ],
  7: ["env", { repeated: { msg: { 1: ["name", "string"], 2: ["value", "string"] } } }],
  8: ["resources", { msg: { 1: ["limits", { map: "quantity" }], 2: ["requests", { map: "quantity" }] } }],
  13: ["terminationMessagePath", "string"],
  14: ["imagePullPolicy", "string"],
  16: ["stdin", "bool"],
  17: ["stdinOnce", "bool"],
  18: ["tty", "bool"],
  20: ["terminationMessagePolicy", "string"],
};
const POD_SPEC: Schema = {
  2: ["containers", { repeated: { msg: CONTAINER } }],
  3: ["restartPolicy", "string"],
  4: ["terminationGracePeriodSeconds", "int", true],
  6: ["dnsPolicy", "string"],
  7: ["nodeSelector", { map: "string" }],
  8: ["serviceAccountName", "string"],
  10: ["nodeName", "string"],
  11: ["hostNetwork", "bool"],
  16: ["hostname", "string"],
  19: ["schedulerName", "string"],
  20: ["initContainers", { repeated: { msg: CONTAINER } }],
};
const POD_TEMPLATE: Schema = { 1: ["metadata", META], 2: ["spec", { msg: POD_SPEC }] };

const KINDS: Record<string, Schema> = {
  Namespace: { 1: ["metadata", META], 2: ["spec", { msg: { 1: ["finalizers", { repeated: "string" }] } }] },
  Secret: {
    1: ["metadata", META],
    2: ["data", { map: "bytes" }],
    3: ["type", "string"],
    4: ["stringData", { map: "string" }],
    5: ["immutable", "bool", true],
  },
  ConfigMap: {
    1: ["metadata", META],
    2: ["data", { map: "string" }],
    3: ["binaryData", { map: "bytes" }],
    4: ["immutable", "bool", true],
  },
  Pod: { 1: ["metadata", META], 2: ["spec", { msg: POD_SPEC }] },
  Deployment: {
    1: ["metadata", META],
    2: [
      "spec",
      {
        msg: {
          1: ["replicas", "int", true],
          2: ["selector", { msg: LABEL_SELECTOR }],
          3: ["template", { msg: POD_TEMPLATE }],
          4: [
            "strategy",
            {
              msg: {
                1: ["type", "string"],
                2: [
                  "rollingUpdate",
                  { msg: { 1: ["maxUnavailable", "intOrString"], 2: ["maxSurge", "intOrString"] } },
                ],
              },
            },
          ],
          5: ["minReadySeconds", "int"],
          6: ["revisionHistoryLimit", "int", true],
          7: ["paused", "bool"],
          9: ["progressDeadlineSeconds", "int", true],
        },
      },
    ],
  },
  SelfSubjectAccessReview: {
    1: ["metadata", META],
    2: [
      "spec",
      {
        msg: {
          1: [
            "resourceAttributes",
            {
              msg: {
                1: ["namespace", "string"],
                2: ["verb", "string"],
                3: ["group", "string"],
                4: ["version", "string"],
                5: ["resource", "string"],
                6: ["subresource", "string"],
                7: ["name", "string"],
              },
            },
          ],
          2: ["nonResourceAttributes", { msg: { 1: ["path", "string"], 2: ["verb", "string"] } }],
        },
      },
    ],
  },
  SelfSubjectReview: { 1: ["metadata", META] },
};

export function isProtobufBody(body: Buffer, contentType: string | undefined): boolean {
  return (contentType ?? "").includes("protobuf") && body.subarray(0, 4).equals(MAGIC);
}

/** A protobuf-encoded object as the JSON object it stands for; unknown kinds are 415 like an unknown format. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  const unknown = decodeFields(body.subarray(4));
  const typeMeta = decodeFields((unknown.get(1)?.[0] as Buffer | undefined) ?? Buffer.alloc(0));
  const apiVersion = typeMeta.get(1)?.[0]?.toString() ?? "";
  const kind = typeMeta.get(2)?.[0]?.toString() ?? "";
  const schema = KINDS[kind];
  if (!schema)
    throw badRequest(
      `protobuf bodies of kind ${JSON.stringify(kind)} are not understood by this server; send JSON`,
    );
  const raw = (unknown.get(2)?.[0] as Buffer | undefined) ?? Buffer.alloc(0);
  return { apiVersion, kind, ...decodeMessage(raw, schema) };
}
