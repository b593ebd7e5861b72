import type { Channel, ChannelModel } from "amqplib";
import { cachedProbe, processMetrics } from "./metrics.ts";

export interface DeadLetterDepthWatch {
  /** Removes the gauge's probe and closes its channel. */
  stop(): Promise<void>;
}

/**
 * Exports how many messages wait in each dead-letter queue
 * (rabbitmq_dlq_depth_messages{queue}), read with a passive declare when
 * Prometheus scrapes. It uses a channel of its own, because the broker closes
 * a channel whose passive declare names a missing queue and the process's
 * working channels must not go down with it; a closed channel is opened
 * again at the next scrape.
 */
export function watchDeadLetterDepth(options: {
  connection: ChannelModel;
  /** The dead-letter queues, e.g. names.dlq("webhook") for each work queue. */
  queues: readonly string[];
  cacheMs?: number;
}): DeadLetterDepthWatch {
  const { connection, queues } = options;
  const { rabbitDlqDepth } = processMetrics();
  let channel: Promise<Channel> | undefined;

  const open = () => {
    channel ??= connection.createChannel().then((created) => {
      created.on("error", () => undefined);
      created.on("close", () => {
        channel = undefined;
      });
      return created;
    });
    channel.catch(() => {
      channel = undefined;
    });
    return channel;
  };

  const read = cachedProbe(options.cacheMs ?? 1_000, async () => {
    const ch = await open();
    const depths: [{ queue: string }, number][] = [];
    // One at a time: a failed passive declare closes the channel for the rest.
    for (const queue of queues) {
      const { messageCount } = await ch.checkQueue(queue);
      depths.push([{ queue }, messageCount]);
    }
    return depths;
  });
  const remove = rabbitDlqDepth.addProbe(read);
  return {
    async stop() {
      remove();
      const ch = await channel?.catch(() => undefined);
      await ch?.close().catch(() => undefined);
    },
  };
}
