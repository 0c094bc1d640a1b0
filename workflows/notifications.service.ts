import * as restate from "@restatedev/restate-sdk";

import type { NotificationPayload } from "../src/notifications/payload.ts";
import { Cluster } from "./cluster.object.ts";
import { notifierKey, type NotifierObject } from "./notifier.object.ts";

/** Routes a notification to every sink whose event filter wants it; each sink on its own. */
export const Notifications = restate.service({
  name: "Notifications",
  handlers: {
    dispatch: async (
      ctx: restate.Context,
      payload: NotificationPayload,
    ): Promise<{ sinks: string[] }> => {
      const { config } = await ctx.objectClient(Cluster, payload.cluster).captureConfig();
      const sinks = config.notifications.sinks.filter((sink) =>
        sink.events.includes(payload.event),
      );
      for (const sink of sinks) {
        ctx
          .objectSendClient<NotifierObject>(
            { name: "Notifier" },
            notifierKey(payload.cluster, sink.name, payload.signature),
          )
          .deliver({ sink: sink.name, payload });
      }
      return { sinks: sinks.map((sink) => sink.name) };
    },
  },
  options: { ingressPrivate: true },
});

export type NotificationsService = typeof Notifications;
