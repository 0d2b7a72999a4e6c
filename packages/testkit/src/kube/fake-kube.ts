/**
 * A Kubernetes API server for tests, faithful where kubectl and Sluice look: authentication and
 * impersonation, discovery, OpenAPI, CRUD/patch/apply/watch on a few core resources, tables,
 * logs, and exec/attach/cp over WebSocket with real processes on this host.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { issueCertificate } from "@sluice/pki";
import { createTestPki } from "../pki";
import { authenticate, type Identity, impersonate, type TokenIdentity } from "./auth";
import { applyDefaults, podContainerNames } from "./defaults";
import { readBody, rejectUpgrade, sendJson, sendStatus } from "./http-io";
import { createLogs } from "./logs";
import { serveNonResource } from "./non-resource";
import { createPodStreams, type Resize } from "./pod-streams";
import { decodeProtobufObject, isProtobufBody } from "./protobuf";
import { writePtyHelper } from "./pty-helper";
import { type RequestInfo, requestInfo } from "./request-info";
import { findResource, RESOURCES, REVIEW_RESOURCES, type ResourceDef } from "./resources";
import { createResourceHandler } from "./rest";
import { type Authorizer, selfSubjectAccessReview, selfSubjectReview } from "./reviews";
import { serveScale } from "./scale";
import { type SeenRequest, seenRequest } from "./seen-request";
import { badRequest, forbidden, statusError } from "./status";
import { createStore, type KubeObject } from "./store";
import { serveWatch } from "./watch";

export type { TokenIdentity } from "./auth";
export { type KubeconfigOptions, writeKubeconfig } from "./kubeconfig";
export type { Resize } from "./pod-streams";
export type { AuthorizationAttributes, Authorizer } from "./reviews";
export type { SeenRequest } from "./seen-request";
export type { KubeObject } from "./store";

export interface FakeKubeOptions {
  /** Bearer tokens and whom they authenticate; default: one admin token that may impersonate. */
  tokens?: Record<string, TokenIdentity>;
  /**
   * RBAC stand-in, asked for every resource request (after impersonation) except self reviews,
   * which every authenticated user may create; default allows all.
   */
  authorize?: Authorizer;
}

export interface FakeKube {
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  caPem: string;
  caFile: string;
  /** The default admin token (present even when `tokens` is given, unless it reuses the name). */
  token: string;
  requests: SeenRequest[];
  resizes: Resize[];
  reset(): void;
  /** Adds text to a pod container's log (default: its first container), reaching `logs -f` clients. */
  appendLog(namespace: string, pod: string, text: string, container?: string): void;
  /** A client certificate signed by the fake's CA; its CN is the user (no groups, no impersonation). */
  issueClientCertificate(user: string): Promise<{ certFile: string; keyFile: string }>;
  /** Stores an object directly, as if a controller had created it (defaults applied). */
  seed(obj: KubeObject): KubeObject;
  close(): Promise<void>;
}

const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

const UNSUPPORTED_STREAM = "is not supported by the Sluice fake Kubernetes API server";

export async function startFakeKubeApiServer(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const pki = await createTestPki();
  const pty = writePtyHelper();
  const adminToken = randomBytes(24).toString("hex");
  const tokens: Record<string, TokenIdentity> = {
    [adminToken]: { user: "kubernetes-admin", groups: ["system:masters"], canImpersonate: true },
    ...opts.tokens,
  };
  const authorize: Authorizer = opts.authorize ?? (() => true);
  const store = createStore();
  const logs = createLogs();
  const requests: SeenRequest[] = [];
  const resizes: Resize[] = [];
  const streams = createPodStreams(pty.path, resizes);
  const watches = { open: new Set<ServerResponse>() };
  const namespaceDef = RESOURCES.find((d) => d.resource === "namespaces")!;
  const podDef = RESOURCES.find((d) => d.resource === "pods")!;
  const handle = createResourceHandler(store, namespaceDef);

  function seed(obj: KubeObject): KubeObject {
    const [group = "", version = ""] = obj.apiVersion.includes("/")
      ? obj.apiVersion.split("/")
      : ["", obj.apiVersion];
    const def = RESOURCES.find((d) => d.group === group && d.version === version && d.kind === obj.kind);
    if (!def) throw new Error(`fake kube: no resource for ${obj.apiVersion} ${obj.kind}`);
    const copy = structuredClone(obj);
    if (def.namespaced) copy.metadata.namespace ??= "default";
    applyDefaults(def, copy, undefined);
    return store.create(def, copy);
  }
  for (const name of SYSTEM_NAMESPACES) seed({ apiVersion: "v1", kind: "Namespace", metadata: { name } });

  // Deleted pods end their log followers and main process, as a stopped container would.
  store.subscribe(Number.POSITIVE_INFINITY, (e) => {
    if (e.type === "DELETED" && e.resourceKey === "/pods") {
      logs.endPod(e.namespace, e.object.metadata.name);
      streams.stopPod(e.namespace, e.object.metadata.name);
    }
  });

  function record(req: IncomingMessage, url: URL, info: RequestInfo | undefined, who: Identity | undefined) {
    const seen = seenRequest(req, url, info, who);
    requests.push(seen);
    return seen;
  }

  /** Authenticates and records the request, whether or not the credential was good. */
  function identify(
    req: IncomingMessage,
    url: URL,
    info: RequestInfo,
    onRecord: (seen: SeenRequest) => void,
  ): Identity {
    const resourceInfo = info.isResource ? info : undefined;
    // A refused impersonation is still recorded with the caller's own name.
    let caller: Identity | undefined;
    try {
      const authenticated = authenticate(req.headers, req.socket as TLSSocket, tokens);
      caller = authenticated.identity;
      const who = impersonate(authenticated, req.headers, req.rawHeaders);
      onRecord(record(req, url, resourceInfo, who));
      return who;
    } catch (err) {
      onRecord(record(req, url, resourceInfo, caller));
      throw err;
    }
  }

  /** Resolves the resource and asks the authorizer, exactly once per resource request. */
  function authorizeResource(info: RequestInfo, who: Identity): ResourceDef {
    const def = findResource(info.apiGroup, info.apiVersion, info.resource);
    if (!def || (info.subresource && !def.subresources.some((s) => s.name === info.subresource))) {
      throw statusError(404, "NotFound", "the server could not find the requested resource", {});
    }
    const attrs = {
      user: who.user,
      groups: who.groups,
      verb: info.verb,
      apiGroup: info.apiGroup,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
    };
    // Self reviews are open to every authenticated user, as the default system:basic-user binding makes them.
    if (REVIEW_RESOURCES.includes(def)) return def;
    if (!authorize(attrs)) throw forbidden(attrs);
    return def;
  }

  async function serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    info: RequestInfo,
    who: Identity,
  ) {
    const def = authorizeResource(info, who);
    const namespace = def.namespaced ? info.namespace : "";
    const body = await readBody(req);
    if (def.resource === "selfsubjectaccessreviews" || def.resource === "selfsubjectreviews") {
      if (info.verb !== "create")
        throw statusError(
          405,
          "MethodNotAllowed",
          "the server does not allow this method on the requested resource",
        );
      const parsed = isProtobufBody(body, req.headers["content-type"])
        ? decodeProtobufObject(body)
        : JSON.parse(body.toString("utf8") || "{}");
      const reply =
        def.resource === "selfsubjectreviews"
          ? selfSubjectReview(who)
          : selfSubjectAccessReview(parsed, who, authorize);
      sendJson(res, 201, reply);
      return;
    }
    const rest = {
      def,
      namespace,
      name: info.name,
      verb: info.verb,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    if (info.subresource === "log") {
      const pod = store.get(podDef, namespace, info.name);
      const names = podContainerNames(pod);
      const container = url.searchParams.get("container") ?? (names.length === 1 ? names[0] : undefined);
      if (container === undefined) {
        throw badRequest(
          `a container name must be specified for pod ${info.name}, choose one of: [${names.join(" ")}]`,
        );
      }
      if (!names.includes(container))
        throw badRequest(`container ${container} is not valid for pod ${info.name}`);
      logs.serve(namespace, info.name, container, url.searchParams, res);
      return;
    }
    if (info.subresource === "exec" || info.subresource === "attach") {
      throw badRequest("Upgrade request required");
    }
    if (info.subresource === "portforward") throw badRequest("Upgrade request required");
    if (info.subresource === "scale") {
      const reply = serveScale(store, rest);
      sendJson(res, reply.code, reply.body);
      return;
    }
    if (info.subresource)
      throw statusError(405, "MethodNotAllowed", `the ${info.subresource} subresource ${UNSUPPORTED_STREAM}`);
    if (info.verb === "watch") {
      serveWatch(store, rest, res, watches);
      return;
    }
    const reply = handle(rest);
    sendJson(res, reply.code, reply.body);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    let seen: SeenRequest | undefined;
    try {
      const info = requestInfo(req.method ?? "GET", url.pathname, url.searchParams);
      const who = identify(req, url, info, (entry) => {
        seen = entry;
        res.once("finish", () => {
          entry.status = res.statusCode;
        });
      });
      if (info.isResource) await serveResource(req, res, url, info, who);
      else if (!serveNonResource(req, res, url, `127.0.0.1:${port}`)) {
        throw statusError(404, "NotFound", "the server could not find the requested resource", {});
      }
    } catch (err) {
      sendStatus(res, err);
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const info = requestInfo(req.method ?? "GET", url.pathname, url.searchParams);
    // Streams are "create" on pods/exec|attach|portforward, as the API server authorizes WebSocket upgrades.
    if (info.isResource && info.subresource) info.verb = "create";
    let seen: SeenRequest | undefined;
    socket.on("error", () => socket.destroy());
    try {
      const who = identify(req, url, info, (entry) => {
        seen = entry;
      });
      if (!info.isResource) throw badRequest("upgrade is only served for pod streams");
      const def = authorizeResource(info, who);
      const subresource = info.subresource;
      if (
        def.resource !== "pods" ||
        (subresource !== "exec" && subresource !== "attach" && subresource !== "portforward")
      ) {
        throw badRequest(`streaming ${info.resource}/${subresource} ${UNSUPPORTED_STREAM}`);
      }
      const pod = store.get(podDef, info.namespace, info.name);
      streams.upgrade(req, socket, head, { pod, query: url.searchParams, subresource });
      if (seen) seen.status = 101;
    } catch (err) {
      const code = rejectUpgrade(socket, err);
      if (seen) seen.status = code;
    }
  }

  const server = createServer({
    key: readFileSync(pki.keyFile, "utf8"),
    cert: readFileSync(pki.certFile, "utf8"),
    ca: pki.caPem,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ["http/1.1"],
    maxHeaderSize: 64 * 1024,
    requestTimeout: 0,
    headersTimeout: 30_000,
  });
  server.on("request", (req, res) => {
    void onRequest(req, res);
  });
  server.on("upgrade", onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: pki.caPem,
    caFile: pki.caFile,
    token: adminToken,
    requests,
    resizes,
    reset() {
      requests.length = 0;
      resizes.length = 0;
    },
    appendLog(namespace, pod, text, container) {
      const found = store.tryGet(podDef, namespace, pod);
      const name = container ?? (found ? podContainerNames(found)[0] : undefined) ?? "";
      logs.append(namespace, pod, name, text);
    },
    seed,
    async issueClientCertificate(user) {
      const ca = { certPem: pki.caPem, keyPem: readFileSync(pki.caKeyFile, "utf8") };
      const leaf = await issueCertificate(ca, { commonName: user, hosts: ["localhost"], usage: "client" });
      const base = join(pki.dir, `client-${randomBytes(6).toString("hex")}`);
      writeFileSync(`${base}.pem`, leaf.certPem);
      writeFileSync(`${base}.key`, leaf.keyPem, { mode: 0o600 });
      return { certFile: `${base}.pem`, keyFile: `${base}.key` };
    },
    async close() {
      for (const res of watches.open) res.destroy();
      logs.closeAll();
      streams.close();
      store.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pty.remove();
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}
