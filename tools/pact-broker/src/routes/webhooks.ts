import { randomUUID } from "node:crypto";
import type { BrokerData, Pacticipant } from "../domain/model.ts";
import { enc, HttpError, isObject, link, noContent, notFound, ok, type Reply } from "../http-util.ts";
import type { Router } from "../router.ts";
import { LOOPBACK_POLICY, refusal } from "../webhooks/allowlist.ts";
import {
  type ExecutionResult,
  type ExecutionSettings,
  executeWebhook,
  redactHeaders,
} from "../webhooks/execute.ts";
import {
  type FieldErrors,
  parseWebhookInput,
  requestDescription,
  type TriggeredWebhook,
  type Webhook,
  type WebhookInput,
} from "../webhooks/model.ts";
import type { WebhookStore } from "../webhooks/store.ts";
import { testParameters } from "../webhooks/triggers.ts";
import { type Broker, needPacticipant, needVersion, pactVersionBySha } from "./context.ts";
import { urls as u } from "./urls.ts";

// Webhooks: CRUD under /webhooks (and the same collection scoped to a
// consumer, a provider, or both), test execution (what `pact-broker
// test-webhook` posts to pb:execute), and the triggered webhooks with their
// status and logs. Firing on events is the runner's job (src/webhooks/runner.ts).

export interface WebhookRouteOptions {
  /** Where test executions may go, what counts as success, how long to wait. */
  settings: ExecutionSettings & { retrySchedule: readonly number[] };
}

export const DEFAULT_WEBHOOK_ROUTE_OPTIONS: WebhookRouteOptions = {
  settings: {
    policy: LOOPBACK_POLICY,
    successCodes: [200, 201, 202, 203, 204, 205, 206],
    timeoutMs: 15_000,
    retrySchedule: [10, 60, 120, 300, 600, 1200],
  },
};

const REDACTED = "**********";

function scopeDescription(w: { consumerName?: string | undefined; providerName?: string | undefined }) {
  if (w.consumerName && w.providerName)
    return `A webhook for the pact between ${w.consumerName} and ${w.providerName}`;
  if (w.providerName) return `A webhook for all pacts with provider ${w.providerName}`;
  if (w.consumerName) return `A webhook for all pacts with consumer ${w.consumerName}`;
  return "A webhook for all pacts";
}

const descriptionOf = (w: Webhook) => w.description ?? requestDescription(w.request);

export function webhookBody(b: string, w: Webhook) {
  const { password, username, ...request } = w.request;
  return {
    uuid: w.uuid,
    description: descriptionOf(w),
    ...(w.consumerName ? { consumer: { name: w.consumerName } } : {}),
    ...(w.providerName ? { provider: { name: w.providerName } } : {}),
    enabled: w.enabled,
    request: {
      ...request,
      headers: redactHeaders(request.headers),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password: REDACTED }),
    },
    events: w.events.map((name) => ({ name })),
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
    _links: {
      self: link(u.webhook(b, w.uuid), { title: descriptionOf(w) }),
      "pb:execute": link(u.webhookExecution(b, w.uuid), {
        title:
          "Test the execution of the webhook with the latest matching pact or verification by sending a POST request to this URL",
      }),
      ...(w.consumerName
        ? {
            "pb:consumer": link(u.pacticipant(b, w.consumerName), {
              title: "Consumer",
              name: w.consumerName,
            }),
          }
        : {}),
      ...(w.providerName
        ? {
            "pb:provider": link(u.pacticipant(b, w.providerName), {
              title: "Provider",
              name: w.providerName,
            }),
          }
        : {}),
      ...(w.consumerName && w.providerName
        ? {
            "pb:pact-webhooks": link(
              `${u.webhooks(b)}/provider/${enc(w.providerName)}/consumer/${enc(w.consumerName)}`,
              {
                title: `All webhooks for consumer ${w.consumerName} and provider ${w.providerName}`,
              },
            ),
          }
        : {}),
      "pb:webhooks": link(u.webhooks(b), { title: "All webhooks" }),
    },
  };
}

function collectionBody(b: string, self: string, title: string, list: Webhook[]) {
  return {
    _embedded: { webhooks: list.map((w) => webhookBody(b, w)) },
    _links: {
      self: link(self, { title }),
      "pb:create": link(self, { title: "POST to create a webhook" }),
      "pb:webhooks": list.map((w) =>
        link(u.webhook(b, w.uuid), { title: scopeDescription(w), name: descriptionOf(w) }),
      ),
      curies: [{ name: "pb", href: `${b}/doc/webhooks-{rel}`, templated: true }],
    },
  };
}

function triggeredBody(b: string, t: TriggeredWebhook, description: string, retries: number) {
  const pending = t.status === "not_run" || t.status === "retrying";
  return {
    uuid: t.uuid,
    name: description,
    status: t.status,
    attemptsMade: t.attemptsMade,
    attemptsRemaining: pending ? Math.max(0, retries + 1 - t.attemptsMade) : 0,
    triggerType: t.triggerType,
    eventName: t.eventName,
    triggeredAt: t.createdAt,
    ...(pending && t.nextAttemptAt ? { nextAttemptAt: t.nextAttemptAt } : {}),
    _links: {
      "pb:logs": link(u.triggeredWebhookLogs(b, t.uuid), {
        title: "Webhook execution logs",
        name: description,
      }),
      "pb:webhook": link(u.webhook(b, t.webhookUuid), { title: "Webhook", name: description }),
    },
  };
}

function executionBody(b: string, result: ExecutionResult, webhookUuid?: string) {
  return {
    request: result.request,
    ...(result.response ? { response: result.response } : {}),
    ...(result.error ? { error: { message: result.error } } : {}),
    logs: result.logs,
    success: result.success,
    _links: webhookUuid
      ? {
          webhook: link(u.webhook(b, webhookUuid)),
          "try-again": link(u.webhookExecution(b, webhookUuid), { title: "Execute the webhook again" }),
        }
      : {},
  };
}

function invalid(errors: FieldErrors): HttpError {
  return new HttpError(400, { errors });
}

export function webhookRoutes(
  router: Router,
  { store, data }: Broker,
  options: WebhookRouteOptions = DEFAULT_WEBHOOK_ROUTE_OPTIONS,
): void {
  const hooks: WebhookStore = store.webhooks;
  const { settings } = options;

  /** Validates a body into a webhook: fields, pacticipants that exist, and the allowlists. */
  const validated = (d: BrokerData, raw: unknown, scope: { consumer?: string; provider?: string }) => {
    const body = isObject(raw) ? { ...raw } : raw;
    if (isObject(body)) {
      if (scope.consumer !== undefined) body.consumer = { name: scope.consumer };
      if (scope.provider !== undefined) body.provider = { name: scope.provider };
    }
    const parsed = parseWebhookInput(body);
    if ("errors" in parsed) throw invalid(parsed.errors);
    const { input } = parsed;
    const errors: FieldErrors = {};
    const resolve = (name: string | undefined, field: string): Pacticipant | undefined => {
      if (name === undefined) return undefined;
      const p = d.pacticipant(name);
      if (!p) errors[field] = [`No pacticipant with name '${name}' found`];
      return p;
    };
    const consumer = resolve(input.consumerName, "consumer.name");
    const provider = resolve(input.providerName, "provider.name");
    const url = new URL(input.request.url.replace(/\$\{[^}]*\}/g, "placeholder"));
    const refused = refusal(settings.policy, input.request.method, url);
    if (refused) errors[refused.startsWith("method") ? "request.method" : "request.url"] = [refused];
    if (Object.keys(errors).length > 0) throw invalid(errors);
    return {
      input: {
        ...input,
        // The stored names, not the spelling of the request (names match case-insensitively).
        ...(consumer ? { consumerName: consumer.name } : {}),
        ...(provider ? { providerName: provider.name } : {}),
      },
      ids: { consumerId: consumer?.id ?? null, providerId: provider?.id ?? null },
    };
  };

  /** A PUT that repeats the redacted password or header values keeps the stored ones. */
  const keepSecrets = (input: WebhookInput, existing: Webhook | undefined): WebhookInput => {
    if (!existing) return input;
    const headers = Object.fromEntries(
      Object.entries(input.request.headers).map(([name, value]) => [
        name,
        value === REDACTED ? (existing.request.headers[name] ?? value) : value,
      ]),
    );
    const password = input.request.password === REDACTED ? existing.request.password : input.request.password;
    return {
      ...input,
      request: { ...input.request, headers, ...(password === undefined ? {} : { password }) },
    };
  };

  const save = async (
    b: string,
    uuid: string,
    raw: unknown,
    scope: { consumer?: string; provider?: string } = {},
  ) => {
    const { input, ids } = validated(await data(), raw, scope);
    const isNew = await hooks.save(uuid, keepSecrets(input, await hooks.find(uuid)), ids);
    const w = await hooks.find(uuid);
    if (!w) throw notFound(`webhook ${uuid}`);
    return { status: isNew ? 201 : 200, body: webhookBody(b, w) };
  };

  const uuidFromBody = (raw: unknown) => {
    const given = isObject(raw) ? raw.uuid : undefined;
    return typeof given === "string" && /^[0-9a-f-]{36}$/i.test(given) ? given.toLowerCase() : randomUUID();
  };

  /** The webhooks of one provider or one consumer (GET), or a new one for it (POST). */
  const scoped = (kind: "provider" | "consumer", nameOf: (params: Record<string, string>) => string) => ({
    list: async ({ base: b, params }: { base: string; params: Record<string, string> }) => {
      const p = needPacticipant(await data(), nameOf(params));
      const list = (await hooks.list()).filter(
        (w) => (kind === "provider" ? w.providerId : w.consumerId) === p.id,
      );
      return ok(collectionBody(b, `${u.webhooks(b)}/${kind}/${enc(p.name)}`, "Webhooks", list));
    },
    create: async ({
      base: b,
      params,
      body,
    }: {
      base: string;
      params: Record<string, string>;
      body: () => Promise<unknown>;
    }) => {
      const name = nameOf(params);
      needPacticipant(await data(), name);
      const raw = await body();
      return save(b, uuidFromBody(raw), raw, kind === "provider" ? { provider: name } : { consumer: name });
    },
  });
  const byProvider = scoped("provider", (params) => params.provider ?? "");
  const byConsumer = scoped("consumer", (params) => params.consumer ?? "");

  router.get("/webhooks", async ({ base: b }) =>
    ok(collectionBody(b, u.webhooks(b), "Webhooks", await hooks.list())),
  );
  router.post("/webhooks", async ({ base: b, body }) => {
    const raw = await body();
    return save(b, uuidFromBody(raw), raw);
  });
  // A webhook that is not saved: executed with the latest matching pact, not recorded.
  router.post("/webhooks/execute", async ({ base: b, body }) => {
    const d = await data();
    const { input, ids } = validated(d, await body(), {});
    const w: Webhook = { ...input, uuid: "unsaved", ...ids, createdAt: new Date(), updatedAt: new Date() };
    const result = await executeWebhook(w.request, testParameters(d, w, b), settings, {
      event_name: "test",
      base_url: b,
    });
    return ok(executionBody(b, result));
  });
  router.get("/webhooks/provider/:provider", byProvider.list);
  router.post("/webhooks/provider/:provider", byProvider.create);
  router.get("/webhooks/consumer/:consumer", byConsumer.list);
  router.post("/webhooks/consumer/:consumer", byConsumer.create);

  const pairRoutes = (
    pattern:
      | "/webhooks/provider/:provider/consumer/:consumer"
      | "/pacts/provider/:provider/consumer/:consumer/webhooks",
    title: string,
  ) => {
    router.get(pattern, async ({ base: b, params, url }) => {
      const d = await data();
      const prov = needPacticipant(d, params.provider);
      const cons = needPacticipant(d, params.consumer);
      const list = (await hooks.list()).filter((w) => w.providerId === prov.id && w.consumerId === cons.id);
      return ok(collectionBody(b, `${b}${url.pathname}`, title, list));
    });
    router.post(pattern, async ({ base: b, params, body }) => {
      const d = await data();
      needPacticipant(d, params.provider);
      needPacticipant(d, params.consumer);
      const raw = await body();
      return save(b, uuidFromBody(raw), raw, { consumer: params.consumer, provider: params.provider });
    });
  };
  pairRoutes("/webhooks/provider/:provider/consumer/:consumer", "Webhooks");
  pairRoutes("/pacts/provider/:provider/consumer/:consumer/webhooks", "Pact webhooks");

  router.get("/webhooks/:uuid", async ({ base: b, params }) => {
    const w = await hooks.find(params.uuid);
    if (!w) throw notFound(`webhook ${params.uuid}`);
    return ok(webhookBody(b, w));
  });
  router.put("/webhooks/:uuid", async ({ base: b, params, body }) => {
    if (!/^[0-9a-f-]{36}$/i.test(params.uuid))
      throw invalid({ uuid: ["must be a UUID (pact-broker generate-uuid makes one)"] });
    return save(b, params.uuid.toLowerCase(), await body());
  });
  router.delete("/webhooks/:uuid", async ({ params }) => {
    if (!(await hooks.remove(params.uuid))) throw notFound(`webhook ${params.uuid}`);
    return noContent();
  });

  // test-webhook: runs it now with the latest matching pact; recorded as a "user" trigger.
  router.post("/webhooks/:uuid/execute", async ({ base: b, params }) => {
    const w = await hooks.find(params.uuid);
    if (!w) throw notFound(`webhook ${params.uuid}`);
    const parameters = testParameters(await data(), w, b);
    const result = await executeWebhook(w.request, parameters, settings, {
      event_name: "test",
      base_url: b,
    });
    const status = result.success ? "success" : "failure";
    const uuid = await hooks.createTriggered(
      {
        webhookUuid: w.uuid,
        eventName: "test",
        triggerType: "user",
        consumerId: w.consumerId,
        providerId: w.providerId,
        consumerVersionId: null,
        pactVersionId: null,
        verificationId: null,
        parameters,
      },
      { status, attemptsMade: 0 },
    );
    await hooks.recordAttempt(uuid, result, { status, nextAttemptAt: null });
    return ok(executionBody(b, result, w.uuid));
  });

  const retries = settings.retrySchedule.length;
  const triggeredList = async (b: string, list: TriggeredWebhook[]) => {
    const names = new Map((await hooks.list()).map((w) => [w.uuid, descriptionOf(w)]));
    return list.map((t) => triggeredBody(b, t, names.get(t.webhookUuid) ?? "", retries));
  };

  router.get(
    "/pacts/provider/:provider/consumer/:consumer/webhooks/status",
    async ({ base: b, params, url }) => {
      const d = await data();
      const prov = needPacticipant(d, params.provider);
      const cons = needPacticipant(d, params.consumer);
      const latest = d
        .versionsOf(cons.id)
        .filter((v) => d.pactFor(v.id, prov.id))
        .at(-1);
      const list = latest
        ? (
            await hooks.triggered({ consumerId: cons.id, providerId: prov.id, consumerVersionId: latest.id })
          ).filter((t) => t.triggerType === "resource_creation")
        : [];
      const count = (s: string) => list.filter((t) => t.status === s).length;
      const embedded = await triggeredList(b, list);
      return ok({
        summary: {
          successful: count("success"),
          failed: count("failure"),
          retrying: count("retrying"),
          notRun: count("not_run"),
        },
        _embedded: { triggeredWebhooks: embedded },
        _links: {
          self: link(`${b}${url.pathname}`, { title: "Webhooks status" }),
          "pb:error-logs": list
            .filter((t) => t.status === "failure" || t.status === "retrying")
            .map((t) => link(u.triggeredWebhookLogs(b, t.uuid), { title: "Error logs" })),
          "pb:pact-webhooks": link(u.pactWebhooks(b, prov.name, cons.name), {
            title: `Webhooks for the pact between ${cons.name} and ${prov.name}`,
          }),
          ...(latest
            ? {
                "pb:pact-version": link(u.pactForVersion(b, prov.name, cons.name, latest.number), {
                  title: "Pact",
                  name: `Pact between ${cons.name} (${latest.number}) and ${prov.name}`,
                }),
              }
            : {}),
          "pb:consumer": link(u.pacticipant(b, cons.name), { title: "Consumer", name: cons.name }),
          "pb:provider": link(u.pacticipant(b, prov.name), { title: "Provider", name: prov.name }),
        },
      });
    },
  );

  router.get(
    "/pacts/provider/:provider/consumer/:consumer/version/:version/triggered-webhooks",
    async ({ base: b, params, url }) => {
      const d = await data();
      const prov = needPacticipant(d, params.provider);
      const { p: cons, v } = needVersion(d, params.consumer, params.version);
      const list = await hooks.triggered({
        consumerId: cons.id,
        providerId: prov.id,
        consumerVersionId: v.id,
      });
      return ok({
        _embedded: {
          triggeredWebhooks: await triggeredList(
            b,
            list.filter((t) => t.verificationId === null),
          ),
        },
        _links: {
          self: link(`${b}${url.pathname}`, {
            title: `Webhooks triggered by the publication of the pact between ${cons.name} (${v.number}) and ${prov.name}`,
          }),
        },
      });
    },
  );

  router.get(
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/verification-results/:id/triggered-webhooks",
    async ({ base: b, params, url }) => {
      const { pv } = pactVersionBySha(await data(), params.provider, params.consumer, params.sha);
      const id = Number(params.id);
      const d = await data();
      if (!d.s.verifications.some((v) => v.id === id && v.pactVersionId === pv.id))
        throw notFound(`verification result ${params.id}`);
      return ok({
        _embedded: {
          triggeredWebhooks: await triggeredList(b, await hooks.triggered({ verificationId: id })),
        },
        _links: {
          self: link(`${b}${url.pathname}`, {
            title: `Webhooks triggered by the publication of verification result ${params.id}`,
          }),
        },
      });
    },
  );

  // The real broker answers text/plain; this broker answers JSON only, so the
  // log text comes in "logs", with each attempt besides.
  router.get("/triggered-webhooks/:uuid/logs", async ({ base: b, params }): Promise<Reply> => {
    const [t] = await hooks.triggered({ uuid: params.uuid });
    if (!t) throw notFound(`triggered webhook ${params.uuid}`);
    const executions = await hooks.executions(t.uuid);
    const [named] = await triggeredList(b, [t]);
    return ok({
      ...named,
      logs: executions.map((e) => e.logs).join(""),
      executions: executions.map((e) => ({ success: e.success, executedAt: e.createdAt, logs: e.logs })),
    });
  });
}
