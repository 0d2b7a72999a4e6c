import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";

/**
 * How one shipped deployment file runs an app: the environment it gets and the paths the
 * process can read or write. Tests feed the environment to the app's own config loader.
 */
export interface Deployment {
  /** e.g. `deploy/kubernetes/control-plane.yaml (control-plane)` */
  source: string;
  env: Record<string, string>;
  /** Directories the process sees, and whether it may write there. */
  paths: { path: string; writable: boolean }[];
  /** Ports the deployment exposes for the process (container ports); empty where not declared. */
  ports: number[];
  /** Secrets and config maps the deployment expects to exist, by name. */
  references: { kind: "Secret" | "ConfigMap"; name: string; optional: boolean }[];
}

export type DeployedApp = "control-plane" | "agent";

const ENTRY: Record<DeployedApp, string> = {
  "control-plane": "apps/control-plane/src/main.ts",
  agent: "apps/agent/src/main.ts",
};

/** Every deployment of `app` under deploy/: systemd, compose and Kubernetes. */
export function readDeployments(repoRoot: string, app: DeployedApp): Deployment[] {
  return [systemd(repoRoot, app), compose(repoRoot, app), ...kubernetes(repoRoot, app)];
}

/** A path is readable/writable when it is one of `paths` or lies under one. */
export function pathAccess(d: Deployment, path: string): "none" | "read" | "write" {
  let access: "none" | "read" | "write" = "none";
  for (const p of d.paths) {
    if (path === p.path || path.startsWith(`${p.path.replace(/\/$/, "")}/`)) {
      if (p.writable) return "write";
      access = "read";
    }
  }
  return access;
}

function systemd(root: string, app: DeployedApp): Deployment {
  const unitName = app === "agent" ? "sluice-agent.service" : "sluice-control-plane.service";
  const source = `deploy/systemd/${unitName}`;
  const unit = readFileSync(join(root, source), "utf8");
  const directives = unit
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && !l.startsWith("["))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const);
  const env: Record<string, string> = {};
  const credentialsDir = "/run/credentials/sluice";
  const paths: Deployment["paths"] = [{ path: credentialsDir, writable: false }];
  for (const [key, value] of directives) {
    if (key === "EnvironmentFile") {
      const file = join(root, "deploy/systemd", `${app}.env.example`);
      if (!value.endsWith(`/${app}.env`)) throw new Error(`${source}: unexpected EnvironmentFile ${value}`);
      Object.assign(env, parseEnvFile(readFileSync(file, "utf8")));
    } else if (key === "Environment") {
      const [k, ...v] = value.split("=");
      env[k as string] = v.join("=").replaceAll("%d", credentialsDir);
    } else if (key === "StateDirectory") {
      for (const d of value.split(/\s+/)) paths.push({ path: `/var/lib/${d}`, writable: true });
    } else if (key === "ReadWritePaths") {
      for (const d of value.split(/\s+/)) paths.push({ path: d, writable: true });
    } else if (key === "PrivateTmp" && value === "yes") {
      paths.push({ path: "/tmp", writable: true });
    }
  }
  // ProtectSystem=strict: the rest of the file system is read-only.
  if (!directives.some(([k, v]) => k === "ProtectSystem" && v === "strict"))
    paths.push({ path: "/", writable: true });
  else paths.push({ path: "/", writable: false });
  const exec = directives.find(([k]) => k === "ExecStart")?.[1] ?? "";
  if (!exec.includes(ENTRY[app])) throw new Error(`${source}: ExecStart does not run ${ENTRY[app]}`);
  return { source, env, paths, ports: [], references: [] };
}

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const at = t.indexOf("=");
    env[t.slice(0, at)] = t.slice(at + 1);
  }
  return env;
}

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  ports?: string[];
}

function compose(root: string, app: DeployedApp): Deployment {
  const source = "deploy/container/compose.yaml";
  const doc = parse(readFileSync(join(root, source), "utf8")) as { services: Record<string, ComposeService> };
  const svc = doc.services[app];
  if (!svc) throw new Error(`${source}: no service ${app}`);
  if (!svc.command?.includes(ENTRY[app])) throw new Error(`${source}: ${app} does not run ${ENTRY[app]}`);
  const paths: Deployment["paths"] = [{ path: "/run/secrets", writable: false }];
  for (const v of svc.volumes ?? []) {
    const [, target, mode] = v.split(":");
    paths.push({ path: target as string, writable: mode !== "ro" });
  }
  const ports = (svc.ports ?? []).map((p) => Number(p.split(":").at(-1)));
  const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v)]));
  return {
    source: `${source} (${app})`,
    env,
    paths,
    ports,
    references: (svc.secrets ?? []).map((name) => ({ kind: "Secret" as const, name, optional: false })),
  };
}

interface K8sVolume {
  name: string;
  secret?: { secretName: string; optional?: boolean };
  configMap?: { name: string };
  emptyDir?: object;
}

interface K8sContainer {
  name: string;
  args?: string[];
  envFrom?: {
    configMapRef?: { name: string; optional?: boolean };
    secretRef?: { name: string; optional?: boolean };
  }[];
  env?: { name: string; value?: unknown; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { readOnlyRootFilesystem?: boolean };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
}

export interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template: { spec: { containers: K8sContainer[]; volumes?: K8sVolume[] } };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
}

/** The manifests kustomization.yaml lists, parsed. */
export function kubernetesObjects(root: string): K8sObject[] {
  const dir = join(root, "deploy/kubernetes");
  const kustomization = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as {
    resources: string[];
  };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => {
      if (d.errors.length > 0) throw new Error(`deploy/kubernetes/${file}: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject;
    }),
  );
}

function kubernetes(root: string, app: DeployedApp): Deployment[] {
  const objects = kubernetesObjects(root);
  const configMaps = new Map(objects.filter((o) => o.kind === "ConfigMap").map((o) => [o.metadata.name, o]));
  const out: Deployment[] = [];
  for (const workload of objects.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind))) {
    if (!workload.spec) throw new Error(`deploy/kubernetes: ${workload.metadata.name} has no spec`);
    const pod = workload.spec.template.spec;
    const claims = new Set((workload.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name));
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const c of pod.containers) {
      if (!(c.args ?? []).includes(ENTRY[app])) continue;
      const references: Deployment["references"] = [];
      const env: Record<string, string> = {};
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef) {
          const name = from.configMapRef.name;
          references.push({ kind: "ConfigMap", name, optional: Boolean(from.configMapRef.optional) });
          Object.assign(env, configMaps.get(name)?.data ?? {});
        }
        if (from.secretRef)
          references.push({
            kind: "Secret",
            name: from.secretRef.name,
            optional: Boolean(from.secretRef.optional),
          });
      }
      for (const e of c.env ?? []) {
        if (e.value !== undefined) env[e.name] = String(e.value);
        else if (e.valueFrom?.fieldRef) env[e.name] = `${workload.metadata.name}-0`;
        else
          throw new Error(`${workload.metadata.name}: env ${e.name} has a source these checks do not know`);
      }
      const paths: Deployment["paths"] = [
        { path: "/", writable: !c.securityContext?.readOnlyRootFilesystem },
      ];
      for (const m of c.volumeMounts ?? []) {
        const volume = volumes.get(m.name);
        if (!volume && !claims.has(m.name)) throw new Error(`${workload.metadata.name}: no volume ${m.name}`);
        if (volume?.secret)
          references.push({
            kind: "Secret",
            name: volume.secret.secretName,
            optional: Boolean(volume.secret.optional),
          });
        paths.push({ path: m.mountPath, writable: !m.readOnly && !volume?.secret && !volume?.configMap });
      }
      out.push({
        source: `deploy/kubernetes ${workload.kind}/${workload.metadata.name}`,
        env,
        paths,
        ports: (c.ports ?? []).map((p) => p.containerPort),
        references,
      });
    }
  }
  if (out.length === 0) throw new Error(`deploy/kubernetes: nothing runs ${ENTRY[app]}`);
  return out;
}

/**
 * The deployment's environment as the process would see it: each `NAME_FILE` of a secret
 * setting points to a temporary file holding `placeholders[NAME]` (the real file lives on
 * the target machine). Fails when such a file lies where the process cannot read.
 */
export function withSecretFiles(
  d: Deployment,
  placeholders: Record<string, string>,
  dir: string,
): Record<string, string> {
  const env = { ...d.env };
  for (const [name, value] of Object.entries(placeholders)) {
    const path = env[`${name}_FILE`];
    if (path === undefined) continue;
    if (pathAccess(d, path) === "none") throw new Error(`${d.source}: ${name}_FILE=${path} is not mounted`);
    const local = join(dir, name);
    writeFileSync(local, `${value}\n`, { mode: 0o600 });
    env[`${name}_FILE`] = local;
  }
  return env;
}
