import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { idParams, listOf } from "../../lib/schemas";
import { actorOf } from "../../server/auth";
import { admins, errors, noContent } from "../../server/route-helpers";
import type { ChannelsService } from "./channels.service";
import {
  channelDto,
  channelWithSecret,
  createChannelBody,
  deliveryDto,
  listDeliveriesQuery,
  updateChannelBody,
} from "./notifications.schemas";
import type { NotificationsService } from "./notifications.service";

const tags = ["notifications"];
const unavailable = { 503: errors[400] };

/** Notification channels and their deliveries; every route is admin-only. */
export function notificationsRoutes(deps: {
  channels: ChannelsService;
  notifications: NotificationsService;
}): FastifyPluginAsyncZod {
  const { channels, notifications } = deps;
  const config = { auth: admins };
  return async (app) => {
    app.get(
      "/notification-channels",
      { config, schema: { tags, response: { 200: listOf(channelDto), ...errors } } },
      async () => ({ items: await channels.list() }),
    );
    app.post(
      "/notification-channels",
      {
        config,
        schema: {
          tags,
          description:
            "Creates a channel. A webhook channel's signing secret is returned here once and never again.",
          body: createChannelBody,
          response: { 201: channelWithSecret, ...errors },
        },
      },
      async (req, reply) => reply.status(201).send(await channels.create(actorOf(req), req.body)),
    );
    app.get(
      "/notification-channels/:id",
      { config, schema: { tags, params: idParams, response: { 200: channelDto, ...errors } } },
      async (req) => channels.get(req.params.id),
    );
    app.patch(
      "/notification-channels/:id",
      {
        config,
        schema: { tags, params: idParams, body: updateChannelBody, response: { 200: channelDto, ...errors } },
      },
      async (req) => channels.update(actorOf(req), req.params.id, req.body),
    );
    app.delete(
      "/notification-channels/:id",
      {
        config,
        schema: {
          tags,
          description: "Deletes the channel and its delivery history.",
          params: idParams,
          response: { ...noContent, ...errors },
        },
      },
      async (req, reply) => {
        await channels.remove(actorOf(req), req.params.id);
        return reply.status(204).send(null);
      },
    );
    app.post(
      "/notification-channels/:id/rotate-secret",
      {
        config,
        schema: {
          tags,
          description: "Issues a new webhook signing secret, returned once; the old one stops at once.",
          params: idParams,
          response: { 200: channelWithSecret, ...errors },
        },
      },
      async (req) => channels.rotateSecret(actorOf(req), req.params.id),
    );
    app.post(
      "/notification-channels/:id/test",
      {
        config,
        schema: {
          tags,
          description: "Queues a `notification.test` event for this channel, even if it is disabled.",
          params: idParams,
          response: { 202: deliveryDto, ...errors, ...unavailable },
        },
      },
      async (req, reply) => reply.status(202).send(await notifications.sendTest(actorOf(req), req.params.id)),
    );
    app.get(
      "/notification-deliveries",
      {
        config,
        schema: {
          tags,
          description: "Deliveries, newest first; `status=failed` is the failed-delivery list.",
          querystring: listDeliveriesQuery,
          response: { 200: listOf(deliveryDto), ...errors },
        },
      },
      async (req) => ({ items: await notifications.listDeliveries(req.query) }),
    );
    app.get(
      "/notification-deliveries/:id",
      { config, schema: { tags, params: idParams, response: { 200: deliveryDto, ...errors } } },
      async (req) => notifications.getDelivery(req.params.id),
    );
    app.post(
      "/notification-deliveries/:id/retry",
      {
        config,
        schema: {
          tags,
          description: "Queues a failed delivery again for a fresh round of attempts.",
          params: idParams,
          response: { 202: deliveryDto, ...errors, ...unavailable },
        },
      },
      async (req, reply) => reply.status(202).send(await notifications.retry(actorOf(req), req.params.id)),
    );
  };
}
