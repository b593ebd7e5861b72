import { randomUUID } from "node:crypto";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { request } from "undici";
import { Channel, DeliveryStatus } from "#gen/accord/notifications/v1/notifications_pb.js";
import { WebhookPayloadSchema, WebhookTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { connectRabbit, openConfirmChannel, publishTask } from "#lib/messaging/rabbit.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import { createSecretBox, parseSecretKey } from "#services/notifications/src/domain/secret-box.ts";
import { classifyAddress } from "#services/notifications/src/egress/address-policy.ts";
import { failureCategory } from "#services/notifications/src/egress/failure-category.ts";
import {
  createEgressGuard,
  EgressRefusedError,
  guardedDispatcher,
} from "#services/notifications/src/egress/guard.ts";
import { TASK_QUEUES, taskTopologyNames } from "#services/notifications/src/topology.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";
import type { CaseResult } from "./attack.ts";

/**
 * The webhook attack cases of issue 11: a partner (acme, real token) aiming
 * webhooks inward. Against notifications processes of this run's own:
 * "guarded" without the development setting (as in production) and "dev"
 * with it, where only the no-redirect rule stands between a redirect and
 * the loopback target. Every listener is on 127.0.0.1 and must receive
 * nothing. The private, link-local, CGNAT and metadata addresses are tried
 * against the guard function only, with an injected resolver and a connect
 * step that throws for any address outside loopback, so no packet can leave
 * this machine even if the guard were wrong.
 */

const GROUP = "webhooks";
const INSIDE = ["10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "fd00::1"] as const;
const SUBSCRIPTION_LIMIT = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Listener {
  port: number;
  hits: number;
  close(): Promise<void>;
}

async function listen(
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Listener> {
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    if (handler) handler(req, res);
    else res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get hits() {
      return state.hits;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Throws, before it starts, any connection this process would open to an address outside loopback. */
function tripwire(): { attempted: string[]; restore(): void } {
  const attempted: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(this: net.Socket, ...args: unknown[]) {
    const first = args[0] as { host?: string; path?: string } | number | string;
    const host =
      typeof first === "object" && first !== null
        ? first.path
          ? undefined
          : (first.host ?? "localhost")
        : typeof args[1] === "string"
          ? args[1]
          : "localhost";
    if (
      host !== undefined &&
      host !== "localhost" &&
      !(net.isIP(host) && classifyAddress(host) === "loopback")
    ) {
      attempted.push(host);
      throw new Error(`refusing to connect to ${host} (outside loopback)`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
  return { attempted, restore: () => (net.Socket.prototype.connect = original) };
}

export async function attackWebhooks(log: (line: string) => void, tag: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const record = (c: Omit<CaseResult, "group">) => {
    results.push({ group: GROUP, ...c });
    log(`[attack] ${c.pass ? "ok    " : "FAILED"} ${GROUP}: ${c.name} -> ${c.actual}`);
  };
  const refusal = async (send: () => Promise<unknown>) => {
    try {
      await send();
      return { code: "ok", text: "accepted" };
    } catch (error) {
      const e = ConnectError.from(error);
      return { code: Code[e.code], text: `${Code[e.code]}: ${e.rawMessage}` };
    }
  };

  // ---------------------------------------------------------------- the guard function only
  const wire = tripwire();
  try {
    for (const address of INSIDE) {
      const literal = address.includes(":") ? `[${address}]` : address;
      const guard = createEgressGuard({
        allowLoopbackHttp: true,
        resolve: async () => [{ address, family: net.isIP(address) }],
      });
      for (const [where, attempt] of [
        ["at subscription (literal)", () => guard.check(`https://${literal}/hook`)],
        ["at subscription (a name resolving to it)", () => guard.check("https://partner.attack.test/hook")],
        [
          "at send (the connect step)",
          () =>
            request("https://partner.attack.test/hook", {
              method: "POST",
              body: "{}",
              dispatcher: guardedDispatcher(guard, { timeoutMs: 1000 }),
            }),
        ],
      ] as const) {
        const err = await (attempt as () => Promise<unknown>)().then(
          () => undefined,
          (e: unknown) => e,
        );
        const refused =
          err instanceof EgressRefusedError ||
          (err !== undefined && failureCategory(err) === "refused by egress policy");
        record({
          name: `${address} ${where}`,
          sent: `egress guard, ${address} ${where}; injected resolver, connect step refusing non-loopback`,
          expected: "refused by egress policy, no socket",
          actual:
            err === undefined
              ? "ALLOWED"
              : refused
                ? `refused: ${(err as Error).message}`
                : `other error: ${failureCategory(err)}`,
          state: `connections attempted outside loopback: ${wire.attempted.length}`,
          pass: refused && wire.attempted.length === 0,
        });
      }
    }
  } finally {
    wire.restore();
  }

  // ---------------------------------------------------------------- real processes
  const target = await listen();
  const redirector = await listen((_req, res) => {
    res.writeHead(307, { location: `http://127.0.0.1:${target.port}/stolen` }).end();
  });
  const startNotifications = (name: string, env: Record<string, string>) =>
    startServiceUnderTest("notifications", {
      tag: `attackwh${name}`,
      topicPrefix: `chaos-attack-wh${name}-${tag}.`,
      env: {
        NOTIFICATIONS_RABBIT_PREFIX: `chaos-attack-wh${name}-${tag}.`,
        NOTIFICATIONS_RETRY_DELAYS_MS: "200",
        NOTIFICATIONS_WEBHOOK_TIMEOUT_MS: "2000",
        NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "false",
        NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_OWNER: String(SUBSCRIPTION_LIMIT),
        ...env,
      },
    });
  let guarded: ServiceUnderTest<"notifications"> | undefined;
  let dev: ServiceUnderTest<"notifications"> | undefined;
  const rabbit = await connectRabbit(process.env.AMQP_URL ?? "amqp://accord:accord@127.0.0.1:5672");
  const channel = await openConfirmChannel(rabbit);
  try {
    log("[attack] webhooks: starting notifications without (guarded) and with (dev) the loopback setting");
    [guarded, dev] = await Promise.all([
      startNotifications("g", {}),
      startNotifications("d", { NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "true" }),
    ]);
    const g = guarded;
    const d = dev;

    for (const url of [
      `http://127.0.0.1:${target.port}/hook`,
      `http://[::1]:${target.port}/hook`,
      `http://localhost:${target.port}/hook`,
      `https://localhost:${target.port}/hook`,
    ]) {
      const answer = await refusal(() => g.clientAs("acme").createWebhookSubscription({ url }));
      const { rows } = await g.pool.query("SELECT count(*)::int AS n FROM webhook_subscriptions");
      record({
        name: `subscribe ${url.replace(String(target.port), "<port>")}`,
        sent: `notifications CreateWebhookSubscription {url: ${url}}, acme's real token, loopback setting off`,
        expected: "invalid_argument (url: refused by egress policy)",
        actual: answer.text,
        state: `stored subscriptions ${rows[0]?.n}; listener received ${target.hits}`,
        pass:
          answer.code === "InvalidArgument" &&
          answer.text.includes("url: refused by egress policy") &&
          rows[0]?.n === 0 &&
          target.hits === 0,
      });
    }

    // A subscription that points inward at send time (stored before the guard, or its name rebound).
    const box = createSecretBox(parseSecretKey(DEV_NOTIFICATIONS_SECRET_KEY));
    const stale = randomUUID();
    await g.pool.query(
      `INSERT INTO webhook_subscriptions (subscription_id, url, signing_secret_sealed, owner_id, owner_role)
       VALUES ($1, $2, $3, $4, 'partner')`,
      [stale, `http://localhost:${target.port}/stale`, box.seal("whsec_stale", stale), DEMO_USERS.acme.id],
    );
    const sendTask = async (prefix: string, subscriptionId: string) => {
      const orderId = randomUUID();
      const task = create(WebhookTaskSchema, {
        taskId: randomUUID(),
        subscriptionId,
        payload: create(WebhookPayloadSchema, {
          eventId: randomUUID(),
          eventType: "accord.orders.v1.OrderConfirmed",
          orderId,
          data: {},
        }),
      });
      const names = taskTopologyNames(prefix);
      await publishTask(
        channel,
        names.tasksExchange,
        names.queue("webhook"),
        Buffer.from(toBinary(WebhookTaskSchema, task)),
        {
          messageId: task.taskId,
          contentType: "application/protobuf",
          headers: { "event-type": "accord.orders.v1.OrderConfirmed" },
        },
      );
      return orderId;
    };
    const deadDelivery = async (service: ServiceUnderTest<"notifications">, orderId: string) => {
      for (let i = 0; i < 100; i++) {
        const { deliveries } = await service.clientAs("acme").listDeliveries({ orderId });
        const dead = deliveries.find(
          (x) => x.channel === Channel.WEBHOOK && x.status === DeliveryStatus.DEAD_LETTERED,
        );
        if (dead) return dead;
        await sleep(200);
      }
      return undefined;
    };
    const staleOrder = await sendTask(`chaos-attack-whg-${tag}.`, stale);
    const staleDead = await deadDelivery(g, staleOrder);
    record({
      name: "a stored subscription to localhost, sent at send time",
      sent: "a webhook task for a subscription stored with http://localhost:<port> (pre-guard row), loopback setting off",
      expected: "refused at send: DEAD_LETTERED, acme sees 'refused by egress policy'",
      actual: staleDead
        ? `${DeliveryStatus[staleDead.status]}, ${staleDead.lastError}`
        : "no dead-lettered delivery within 20 s",
      state: `listener received ${target.hits}`,
      pass: staleDead?.lastError === "refused by egress policy" && target.hits === 0,
    });

    // A redirect to loopback, on the process that would allow loopback: only the no-redirect rule stops it.
    const redirect = await d
      .clientAs("acme")
      .createWebhookSubscription({ url: `http://127.0.0.1:${redirector.port}/r` });
    const redirectOrder = await sendTask(
      `chaos-attack-whd-${tag}.`,
      redirect.subscription?.subscriptionId ?? "",
    );
    const redirectDead = await deadDelivery(d, redirectOrder);
    record({
      name: "a redirect to loopback",
      sent: `webhook to a receiver answering 307 Location: http://127.0.0.1:<port>/stolen (loopback setting on, so the target itself would be allowed)`,
      expected: "redirect not followed: DEAD_LETTERED, 'http 307 (redirects are not followed)'",
      actual: redirectDead
        ? `${DeliveryStatus[redirectDead.status]}, ${redirectDead.lastError}`
        : "no dead-lettered delivery within 20 s",
      state: `redirector received ${redirector.hits}; target received ${target.hits}`,
      pass:
        redirectDead?.lastError === "http 307 (redirects are not followed)" &&
        redirector.hits > 0 &&
        target.hits === 0,
    });

    // A flood of subscriptions, concurrent: the per-owner limit holds.
    const globex = d.clientAs("globex");
    const flood = await Promise.all(
      Array.from({ length: SUBSCRIPTION_LIMIT + 10 }, (_, i) =>
        refusal(() =>
          globex.createWebhookSubscription({ url: `http://127.0.0.1:${target.port}/flood-${i}` }),
        ),
      ),
    );
    const accepted = flood.filter((a) => a.code === "ok").length;
    const exhausted = flood.filter((a) => a.code === "ResourceExhausted");
    const listed = (await globex.listWebhookSubscriptions({})).subscriptions.length;
    record({
      name: `a flood of ${SUBSCRIPTION_LIMIT + 10} subscriptions`,
      sent: `${SUBSCRIPTION_LIMIT + 10} concurrent CreateWebhookSubscription, globex's real token`,
      expected: `${SUBSCRIPTION_LIMIT} created, the rest resource_exhausted naming the limit`,
      actual: `${accepted} created, ${exhausted.length} ${exhausted[0]?.text ?? "resource_exhausted"}`,
      state: `globex lists ${listed}`,
      pass:
        accepted === SUBSCRIPTION_LIMIT &&
        exhausted.length === 10 &&
        exhausted.every((a) => a.text.includes(`at most ${SUBSCRIPTION_LIMIT}`)) &&
        listed === SUBSCRIPTION_LIMIT,
    });
  } finally {
    await Promise.all([guarded?.stop().catch(() => null), dev?.stop().catch(() => null)]);
    for (const prefix of [`chaos-attack-whg-${tag}.`, `chaos-attack-whd-${tag}.`]) {
      const names = taskTopologyNames(prefix);
      for (const queue of TASK_QUEUES) {
        await channel.deleteQueue(names.delayQueue(queue, 200)).catch(() => undefined);
        await channel.deleteQueue(names.queue(queue)).catch(() => undefined);
        await channel.deleteQueue(names.dlq(queue)).catch(() => undefined);
      }
      for (const exchange of [names.tasksExchange, names.retryExchange, names.dlxExchange]) {
        await channel.deleteExchange(exchange).catch(() => undefined);
      }
    }
    await channel.close().catch(() => undefined);
    await rabbit.close().catch(() => undefined);
    await target.close();
    await redirector.close();
  }
  return results;
}
