import * as restate from "@restatedev/restate-sdk";

import type { NotificationPayload } from "../src/notifications/payload.ts";
import type { ClusterObject } from "./cluster.object.ts";
import { Incident, incidentKey } from "./incident.object.ts";
import { notifierKey, type NotifierObject } from "./notifier.object.ts";

/** Routes a notification to every sink whose event filter wants it; each sink on its own. */
export const Notifications = restate.service({
  name: "Notifications",
  handlers: {
    dispatch: async (
      ctx: restate.Context,
      payload: NotificationPayload,
    ): Promise<{ sinks: string[] }> => {
      const routes = await ctx
        .objectClient<ClusterObject>({ name: "Cluster" }, payload.cluster)
        .notificationRoutes();
      const sinks = routes.filter((sink) => sink.events.includes(payload.event));
      if (sinks.length === 0) return { sinks: [] };
      // A capture's outcome does not know how often the failure happened: the Incident does.
      const occurrences =
        payload.occurrences ??
        (await ctx.objectClient(Incident, incidentKey(payload)).get())?.occurrences ??
        null;
      for (const sink of sinks) {
        ctx
          .objectSendClient<NotifierObject>(
            { name: "Notifier" },
            notifierKey(payload.cluster, sink.name, payload.signature),
          )
          .deliver({ sink: sink.name, payload: { ...payload, occurrences } });
      }
      return { sinks: sinks.map((sink) => sink.name) };
    },
  },
  options: { ingressPrivate: true },
});

export type NotificationsService = typeof Notifications;
