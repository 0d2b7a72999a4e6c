import { chmod, mkdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { type Document, isMap, isSeq, parseDocument, type YAMLMap } from "yaml";
import { CliError, usageError } from "../../cli-error";
import type { Env } from "../../config-store";

/** The exec plugin entry: how kubectl runs `sluice kube credential`. */
export interface ExecPlugin {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface KubeEntry {
  /** Name of the cluster and the user entry (`sluice-<connection>`). */
  name: string;
  context: string;
  server: string;
  caPem: string;
  exec: ExecPlugin;
  /** Make the context kubectl's current one. */
  use: boolean;
}

/** `--kubeconfig`, else the first path in `$KUBECONFIG`, else `~/.kube/config` (as kubectl writes). */
export function kubeconfigPath(flag: string | undefined, env: Env): string {
  if (flag) return resolve(flag);
  const first = (env.KUBECONFIG ?? "").split(delimiter).find((p) => p.trim() !== "");
  if (first) return resolve(first);
  return join(env.HOME || homedir(), ".kube", "config");
}

type Named = "clusters" | "users" | "contexts";

function namedList(doc: Document, key: Named, file: string) {
  const node = doc.get(key, true);
  if (node === undefined || node === null || (!isSeq(node) && !isMap(node) && isEmptyScalar(node))) {
    const seq = doc.createNode([]);
    doc.set(key, seq);
    return seq;
  }
  if (!isSeq(node)) throw usageError(`${file}: "${key}" is not a list; fix the file or pass --kubeconfig`);
  return node;
}

function isEmptyScalar(node: unknown): boolean {
  return typeof node === "object" && node !== null && "value" in node && node.value === null;
}

function findNamed(seq: ReturnType<typeof namedList>, name: string): YAMLMap | undefined {
  return seq.items.find((item): item is YAMLMap => isMap(item) && item.get("name") === name);
}

/** Adds or replaces the entry called `name`; other entries are left exactly as they were. */
function upsert(doc: Document, key: Named, file: string, name: string, body: Record<string, unknown>) {
  const seq = namedList(doc, key, file);
  const node = doc.createNode({ name, [key.slice(0, -1)]: body });
  const index = seq.items.findIndex((item) => isMap(item) && item.get("name") === name);
  if (index >= 0) seq.items[index] = node;
  else seq.items.push(node);
}

function execBody(exec: ExecPlugin): Record<string, unknown> {
  return {
    apiVersion: "client.authentication.k8s.io/v1",
    command: exec.command,
    args: exec.args,
    ...(Object.keys(exec.env).length > 0
      ? { env: Object.entries(exec.env).map(([name, value]) => ({ name, value })) }
      : {}),
    interactiveMode: "Never",
    provideClusterInfo: false,
  };
}

/**
 * Merges Sluice's cluster, user and context into a kubeconfig's text. Entries with other
 * names, comments and the order of the file stay as they were; ours are replaced in place.
 * A context of ours keeps what the user added to it (a namespace, extensions).
 */
export function mergeKubeconfig(text: string, entry: KubeEntry, file = "kubeconfig"): string {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw usageError(`${file} is not valid YAML; fix it or pass --kubeconfig`, [
      `  ${doc.errors[0]?.message.split("\n")[0] ?? ""}`,
    ]);
  }
  if (doc.contents === null || isEmptyScalar(doc.contents)) doc.contents = doc.createNode({}) as never;
  if (!isMap(doc.contents))
    throw usageError(`${file} is not a kubeconfig (not a mapping); pass --kubeconfig`);
  if (!doc.has("apiVersion")) doc.set("apiVersion", "v1");
  if (!doc.has("kind")) doc.set("kind", "Config");

  upsert(doc, "clusters", file, entry.name, {
    server: entry.server,
    "certificate-authority-data": Buffer.from(entry.caPem, "utf8").toString("base64"),
  });
  upsert(doc, "users", file, entry.name, { exec: execBody(entry.exec) });

  const contexts = namedList(doc, "contexts", file);
  const existing = findNamed(contexts, entry.context)?.get("context", true);
  if (isMap(existing)) {
    existing.set("cluster", entry.name);
    existing.set("user", entry.name);
  } else {
    upsert(doc, "contexts", file, entry.context, { cluster: entry.name, user: entry.name });
  }
  if (entry.use) doc.set("current-context", entry.context);
  return doc.toString({ lineWidth: 0 });
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Where to write: a symlinked kubeconfig is written through, not replaced by a file. */
async function target(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return file;
  }
}

/** Merges the entry into the kubeconfig at `file` (created with its directory when missing), mode 0600. */
export async function writeKubeconfig(file: string, entry: KubeEntry): Promise<void> {
  const real = await target(file);
  const merged = mergeKubeconfig(await readIfExists(real), entry, file);
  await mkdir(dirname(real), { recursive: true, mode: 0o700 });
  const tmp = `${real}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, merged, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, real);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
}
