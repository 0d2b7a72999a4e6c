import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { createDb, type Role } from "@sluice/db";
import { AgentServiceClient, type RecordingAck } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { startTestControlPlane, type TestControlPlane } from "./control-plane.testing";
import { agentMetadata, createUser, linkAgent, type TestLink, type TestUser } from "./fixtures.testing";

/**
 * The people, credentials and resources of the authorization matrix, created through the
 * real API (and the agent's real gRPC link) of one control plane.
 */

export const callers = ["admin", "auditor", "reviewer", "member", "service", "anonymous", "revoked"] as const;
export type Caller = (typeof callers)[number];
/** Everyone who owns resources: the callers with an account, and `other`, whose resources are foreign to all. */
export const people = ["admin", "auditor", "reviewer", "member", "service", "other"] as const;
export type Person = (typeof people)[number];
/** `own`: the caller's resource (for resources nobody owns: an existing one); `foreign`: another member's. */
export type Target = "own" | "foreign" | "missing";

export function roleOf(c: Caller): Role | undefined {
  if (c === "admin" || c === "auditor") return c;
  return c === "anonymous" || c === "revoked" ? undefined : "user";
}

/** What fills a route's path parameters. */
export type Kind =
  | "user"
  | "apiKey"
  | "group"
  | "member"
  | "agent"
  | "connection"
  | "policy"
  | "sshKey"
  | "session"
  | "review"
  | "channel"
  | "delivery"
  | "issuer"
  | "mapping";
/** Kinds whose resources belong to a user (or, for connections, to groups): they have a foreign target. */
export const ownedKinds: readonly Kind[] = ["user", "apiKey", "sshKey", "session", "review", "connection"];

type Params = Record<string, string>;
type Api = TestControlPlane["api"];

let counter = 0;
/** A name no other fixture uses. */
export const uniq = (prefix: string) => `${prefix}-${++counter}`;

/** A fresh ed25519 public key as one authorized_keys line. */
export function sshKeyLine(comment = "matrix"): string {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}

/** The text each person's session recording carries, to show whose recording a response holds. */
export const recordingMarker = (p: Person) => `terminal output of ${p}`;

async function must(api: Api, path: string, init: Parameters<Api>[1], want: number) {
  const res = await api(path, init);
  if (res.status !== want) throw new Error(`${init?.method ?? "GET"} ${path}: ${res.status} ${res.text}`);
  return res.body;
}

export async function startWorld() {
  const cp = await startTestControlPlane();
  const grpc = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  const db = createDb(cp.db.url);
  const api = cp.api;
  const admin = (path: string, body?: unknown, method = "POST", want = 201) =>
    must(api, path, { method, body }, want);

  for (const name of ["devs", "approvers", "finance"]) await admin("/api/v1/groups", { name });
  const connection = (name: string, allowedGroups: string[], extra: Record<string, unknown> = {}) =>
    admin("/api/v1/connections", {
      name,
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "app",
      username: "app",
      credentialRef: "env:APP_PW",
      allowedGroups,
      ...extra,
    });
  const gate = { requireApproval: true, reviewerGroups: ["approvers"], maxDurationSeconds: 8 * 3600 };
  const gated = (name: string) => connection(name, ["devs", "approvers"], { access: gate });
  const appDb = await connection("app-db", ["devs", "approvers"]);
  const financeDb = await connection("finance-db", ["finance"]);
  await gated("gated-db");

  const who = {} as Record<Person, TestUser>;
  who.admin = { id: (await api("/api/v1/me")).body.id, name: "admin", key: cp.adminKey };
  who.auditor = await createUser(cp, "auditor", ["devs"], "auditor");
  who.reviewer = await createUser(cp, "reviewer", ["devs", "approvers"]);
  who.member = await createUser(cp, "member", ["devs"]);
  who.other = await createUser(cp, "other", ["devs"]);
  const svc = await admin("/api/v1/users", { name: "ci-deployer", kind: "service", groups: ["devs"] });
  const svcKey = await admin(`/api/v1/users/${svc.id}/api-keys`, { name: "ci" });
  who.service = { id: svc.id, name: "ci-deployer", key: svcKey.secret };
  const leaver = await admin(`/api/v1/users/${who.member.id}/api-keys`, { name: "leaked" });
  await admin(`/api/v1/users/${who.member.id}/api-keys/${leaver.key.id}`, undefined, "DELETE", 204);

  const edge: TestLink = await linkAgent({ cp, grpc }, "edge");
  const as = (p: Person, path: string, body?: unknown, method = "POST", want = 201) =>
    must(api, path, { method, body, key: who[p].key }, want);

  /** A session of `p` on app-db, brokered to the edge agent, with a recording the agent uploaded. */
  async function session(p: Person): Promise<string> {
    const started = await as(p, "/api/v1/sessions", { connection: "app-db" });
    const sid = started.session.id as string;
    const stream = grpc.uploadRecording(agentMetadata(edge.token));
    const acks: RecordingAck[] = [];
    stream.on("data", (a: RecordingAck) => acks.push(a));
    const at = Date.now();
    stream.write({
      sessionId: sid,
      events: [
        { seq: 1, atUnixMs: at, kind: "session.start", payloadJson: "{}" },
        {
          seq: 2,
          atUnixMs: at + 5,
          kind: "ssh.data",
          payloadJson: JSON.stringify({ stream: "o", data: recordingMarker(p) }),
        },
      ],
    });
    await eventually(() => acks.length === 1);
    stream.end();
    return sid;
  }

  const fresh = {
    user: async () => (await admin("/api/v1/users", { name: uniq("temp-user") })).id as string,
    apiKey: async (p: Person) =>
      (await admin(`/api/v1/users/${who[p].id}/api-keys`, { name: uniq("spare") })).key.id as string,
    sshKey: async (p: Person) =>
      (await as(p, "/api/v1/ssh-keys", { name: uniq("laptop"), publicKey: sshKeyLine() })).id as string,
    group: async () => (await admin("/api/v1/groups", { name: uniq("team") })).id as string,
    agent: async () => (await admin("/api/v1/agents", { name: uniq("spare-agent") })).agent.id as string,
    connection: async (groups: string[]) => (await connection(uniq("temp-db"), groups)).id as string,
    policy: async () => (await admin("/api/v1/policies", { name: uniq("rules") })).id as string,
    channel: async () =>
      (
        await admin("/api/v1/notification-channels", {
          name: uniq("hook"),
          kind: "webhook",
          url: "http://127.0.0.1:9/hook",
        })
      ).channel.id as string,
    /** A delivery on its way to a receiver that never answers, marked failed as after its last attempt. */
    failedDelivery: async () => {
      const d = await admin(`/api/v1/notification-channels/${await fresh.channel()}/test`, {}, "POST", 202);
      await db.prisma.notificationDelivery.update({ where: { id: d.id }, data: { status: "failed" } });
      return d.id as string;
    },
    issuer: async () =>
      (
        await admin("/api/v1/trusted-issuers", {
          name: uniq("ci"),
          issuer: `https://${uniq("ci")}.example.test`,
          audience: "sluice",
        })
      ).id as string,
    mapping: async () =>
      (await admin("/api/v1/idp-group-mappings", { idpGroup: uniq("eng"), group: "devs" })).id as string,
    /** A connection that requires approval, reviewed by `approvers`, and its name. */
    gatedConnection: async () => (await gated(uniq("gated"))).name as string,
    /** A pending access review requested by `p` (each on a connection of its own: one pending per user and connection). */
    review: async (p: Person) => {
      const body = { connection: await fresh.gatedConnection(), durationSeconds: 3600, reason: "on call" };
      return (await as(p, "/api/v1/reviews", body)).id as string;
    },
  };

  const shared = {
    appDb: appDb.id as string,
    financeDb: financeDb.id as string,
    agent: edge.agentId,
    group: (await api("/api/v1/groups/finance")).body.id as string,
    policy: await fresh.policy(),
    channel: await fresh.channel(),
    delivery: await fresh.failedDelivery(),
    issuer: await fresh.issuer(),
    mapping: await fresh.mapping(),
    sessions: {} as Record<Person, string>,
    reviews: {} as Record<Person, string>,
    apiKeys: {} as Record<Person, string>,
    sshKeys: {} as Record<Person, string>,
  };
  await Promise.all(
    people.map(async (p) => {
      shared.sessions[p] = await session(p);
      shared.reviews[p] = (
        await as(p, "/api/v1/reviews", { connection: "gated-db", durationSeconds: 3600, reason: "on call" })
      ).id;
      shared.apiKeys[p] = await fresh.apiKey(p);
      shared.sshKeys[p] = await fresh.sshKey(p);
    }),
  );

  /** The path parameters of one cell; `live` cells of routes that change their resource get a fresh one. */
  async function params(
    kind: Kind,
    owner: Person,
    target: "own" | "foreign",
    live: boolean,
  ): Promise<Params> {
    const foreign = target === "foreign";
    switch (kind) {
      case "user":
        return { id: foreign && live ? await fresh.user() : who[owner].id };
      case "apiKey":
        return { id: who[owner].id, keyId: live ? await fresh.apiKey(owner) : shared.apiKeys[owner] };
      case "sshKey":
        return { id: live ? await fresh.sshKey(owner) : shared.sshKeys[owner] };
      case "session":
        return { id: shared.sessions[owner] };
      case "review":
        return { id: live ? await fresh.review(owner) : shared.reviews[owner] };
      case "connection": {
        const groups = foreign ? ["finance"] : ["devs", "approvers"];
        return { id: live ? await fresh.connection(groups) : foreign ? shared.financeDb : shared.appDb };
      }
      case "member":
        if (!live) return { id: shared.group, userId: who.other.id };
        return await (async () => {
          const [id, userId] = [await fresh.group(), await fresh.user()];
          await admin(`/api/v1/groups/${id}/members/${userId}`, undefined, "PUT", 204);
          return { id, userId };
        })();
      case "group":
        return { id: live ? await fresh.group() : shared.group };
      case "agent":
        return { id: live ? await fresh.agent() : shared.agent };
      case "policy":
        return { id: live ? await fresh.policy() : shared.policy };
      case "channel":
        return { id: live ? await fresh.channel() : shared.channel };
      case "delivery":
        return { id: live ? await fresh.failedDelivery() : shared.delivery };
      case "issuer":
        return { id: live ? await fresh.issuer() : shared.issuer };
      case "mapping":
        return { id: live ? await fresh.mapping() : shared.mapping };
    }
  }

  return {
    cp,
    grpc,
    edge,
    who,
    shared,
    fresh,
    params,
    /** The key a caller sends: none for anonymous, the member's revoked key for revoked. */
    keyOf: (c: Caller): string | null =>
      c === "anonymous" ? null : c === "revoked" ? (leaver.secret as string) : who[c].key,
    /** Whose resources a caller's own are; anonymous and revoked callers aim at the member's. */
    ownerOf: (c: Caller): Person => (c === "anonymous" || c === "revoked" ? "member" : c),
    async stop() {
      edge.close();
      grpc.close();
      await db.close();
      await cp.stop();
    },
  };
}

export type World = Awaited<ReturnType<typeof startWorld>>;
