import { randomUUID } from "node:crypto";
import type { NotificationChannel } from "@sluice/db";
import { AppError } from "@sluice/errors";
import type { Db } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import { open, seal } from "../keys/sealed-box";
import type {
  ChannelDto,
  ChannelKind,
  CreateChannelInput,
  UpdateChannelInput,
} from "./notifications.schemas";
import { newWebhookSecret } from "./signature";

/** Where and how the worker sends a channel's notifications. Never leaves the control plane. */
export interface ChannelTarget {
  kind: ChannelKind;
  url: string;
  /** The HMAC secret (webhook channels). */
  secret: string | undefined;
  /** Strings an error text must never contain. */
  scrub: string[];
}

/**
 * A Slack webhook URL is itself the credential (its last path segment is the token),
 * so only this form is stored in the clear and shown.
 */
export function redactUrl(raw: string): string {
  const url = new URL(raw);
  const segments = url.pathname.split("/");
  const last = segments.length - 1;
  if (segments[last] === "" && last > 0) segments.splice(last, 1);
  if (segments.length > 1 && segments[segments.length - 1] !== "") segments[segments.length - 1] = "****";
  const query = url.search ? "?****" : "";
  return `${url.origin}${segments.join("/")}${query}`;
}

/**
 * A webhook URL's query string often carries the receiver's token, so a URL with one is
 * stored sealed and shown with the query hidden.
 */
export function redactQuery(raw: string): string {
  const url = new URL(raw);
  return url.search ? `${url.origin}${url.pathname}?****` : raw;
}

function sealContext(id: string, kind: ChannelKind): string {
  return `notification-channel:${id}:${kind === "webhook" ? "secret" : "url"}`;
}

function webhookUrlContext(id: string): string {
  return `notification-channel:${id}:webhook-url`;
}

export function toChannelDto(r: NotificationChannel): ChannelDto {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind as ChannelKind,
    url: r.url,
    events: r.events,
    enabled: r.enabled,
    signing: r.kind === "webhook" ? "hmac-sha256" : null,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type ChannelsService = ReturnType<typeof createChannelsService>;

/** Admin-managed notification channels. Secrets are sealed with the master key at rest. */
export function createChannelsService(deps: { prisma: Db; mutate: Mutate; masterKey: Buffer }) {
  const { prisma, mutate, masterKey } = deps;

  async function find(ref: string): Promise<NotificationChannel> {
    const row = await prisma.notificationChannel.findUnique({ where: byIdOrName(ref) });
    if (!row) throw new AppError("notification_channel.not_found", `notification channel ${ref} not found`);
    return row;
  }

  /** The stored url column and sealed value for a channel's URL (and new secret). */
  function storedFields(id: string, kind: ChannelKind, url: string, secret: string | undefined) {
    if (kind === "slack")
      return { url: redactUrl(url), secretEnc: seal(masterKey, url, sealContext(id, kind)) };
    return {
      url: redactQuery(url),
      urlEnc: new URL(url).search ? seal(masterKey, url, webhookUrlContext(id)) : null,
      secretEnc: secret === undefined ? undefined : seal(masterKey, secret, sealContext(id, kind)),
    };
  }

  function target(row: NotificationChannel): ChannelTarget {
    const kind = row.kind as ChannelKind;
    if (!row.secretEnc) throw new Error(`notification channel ${row.id} has no sealed value`);
    const plain = open(masterKey, row.secretEnc, sealContext(row.id, kind));
    if (kind === "slack") {
      const secretPart = new URL(plain).pathname.split("/").filter(Boolean).at(-1);
      return { kind, url: plain, secret: undefined, scrub: [plain, secretPart ?? ""] };
    }
    if (!row.urlEnc) return { kind, url: row.url, secret: plain, scrub: [plain] };
    const url = open(masterKey, row.urlEnc, webhookUrlContext(row.id));
    const values = [...new URL(url).searchParams.values()].filter((v) => v.length >= 4);
    return { kind, url, secret: plain, scrub: [plain, url, new URL(url).search.slice(1), ...values] };
  }

  return {
    find,
    target,
    async list(): Promise<ChannelDto[]> {
      const rows = await prisma.notificationChannel.findMany({ orderBy: { createdAt: "asc" }, take: 1000 });
      return rows.map(toChannelDto);
    },
    async get(ref: string): Promise<ChannelDto> {
      return toChannelDto(await find(ref));
    },
    async create(actor: Actor, input: CreateChannelInput) {
      if (await prisma.notificationChannel.findUnique({ where: { name: input.name } })) {
        throw new AppError(
          "notification_channel.exists",
          `a notification channel named ${input.name} exists`,
        );
      }
      const id = randomUUID();
      const secret = input.kind === "webhook" ? newWebhookSecret() : undefined;
      const row = await mutate(actor, async ({ tx, audit }) => {
        const created = await tx.notificationChannel.create({
          data: {
            id,
            name: input.name,
            kind: input.kind,
            events: input.events,
            enabled: input.enabled,
            ...storedFields(id, input.kind, input.url, secret),
          },
        });
        await audit({
          action: "notification_channel.create",
          targetType: "notification_channel",
          targetId: id,
          details: { name: input.name, kind: input.kind, url: created.url, events: input.events },
        });
        return created;
      });
      return secret === undefined ? { channel: toChannelDto(row) } : { channel: toChannelDto(row), secret };
    },
    async update(actor: Actor, ref: string, input: UpdateChannelInput): Promise<ChannelDto> {
      const existing = await find(ref);
      const kind = existing.kind as ChannelKind;
      const url = input.url === undefined ? {} : storedFields(existing.id, kind, input.url, undefined);
      const row = await mutate(actor, async ({ tx, audit }) => {
        const updated = await tx.notificationChannel.update({
          where: { id: existing.id },
          data: { ...url, events: input.events, enabled: input.enabled },
        });
        await audit({
          action: "notification_channel.update",
          targetType: "notification_channel",
          targetId: existing.id,
          details: { fields: Object.keys(input), url: updated.url, events: updated.events },
        });
        return updated;
      });
      return toChannelDto(row);
    },
    /** A new signing secret for a webhook channel, returned once; the old one stops working. */
    async rotateSecret(actor: Actor, ref: string) {
      const existing = await find(ref);
      if (existing.kind !== "webhook") {
        throw new AppError("notification_channel.invalid", "only webhook channels have a signing secret");
      }
      const secret = newWebhookSecret();
      const row = await mutate(actor, async ({ tx, audit }) => {
        const updated = await tx.notificationChannel.update({
          where: { id: existing.id },
          data: { secretEnc: seal(masterKey, secret, sealContext(existing.id, "webhook")) },
        });
        await audit({
          action: "notification_channel.rotate_secret",
          targetType: "notification_channel",
          targetId: existing.id,
        });
        return updated;
      });
      return { channel: toChannelDto(row), secret };
    },
    async remove(actor: Actor, ref: string): Promise<void> {
      const existing = await find(ref);
      await mutate(actor, async ({ tx, audit }) => {
        await tx.notificationChannel.delete({ where: { id: existing.id } });
        await audit({
          action: "notification_channel.delete",
          targetType: "notification_channel",
          targetId: existing.id,
          details: { name: existing.name },
        });
      });
    },
  };
}
