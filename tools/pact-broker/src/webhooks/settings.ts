import type { PactBrokerConfig } from "../config.ts";
import type { WebhookSettings } from "./runner.ts";

// The webhook settings from the broker's configuration (PACT_BROKER_WEBHOOK_*).

/**
 * The base of the links webhooks carry (a pact URL to verify, say). A webhook
 * fires outside any request, so it cannot take the request's Host:
 * PACT_BROKER_PUBLIC_URL when set, else the listen address (a wildcard
 * address means this host's loopback).
 */
export function webhookBaseUrl(
  config: Pick<PactBrokerConfig, "PACT_BROKER_PUBLIC_URL" | "PACT_BROKER_HOST" | "PACT_BROKER_PORT">,
) {
  if (config.PACT_BROKER_PUBLIC_URL) return config.PACT_BROKER_PUBLIC_URL;
  const host = config.PACT_BROKER_HOST;
  const shown =
    host === "0.0.0.0" || host === ""
      ? "127.0.0.1"
      : host === "::"
        ? "[::1]"
        : host.includes(":")
          ? `[${host}]`
          : host;
  return `http://${shown}:${config.PACT_BROKER_PORT}`;
}

export function webhookSettings(config: PactBrokerConfig): WebhookSettings {
  return {
    policy: {
      hosts: config.PACT_BROKER_WEBHOOK_HOST_WHITELIST,
      schemes: config.PACT_BROKER_WEBHOOK_SCHEME_WHITELIST,
      methods: config.PACT_BROKER_WEBHOOK_HTTP_METHOD_WHITELIST,
    },
    successCodes: config.PACT_BROKER_WEBHOOK_HTTP_CODE_SUCCESS,
    timeoutMs: config.PACT_BROKER_WEBHOOK_TIMEOUT_MS,
    retrySchedule: config.PACT_BROKER_WEBHOOK_RETRY_SCHEDULE,
    pollMs: config.PACT_BROKER_WEBHOOK_POLL_MS,
    baseUrl: webhookBaseUrl(config),
  };
}
