import { enc } from "../http-util.ts";

// The broker's resource URLs, built from the request's base URL. Names are
// encoded as one path segment each, so "feat/x" stays one segment.

export const urls = {
  pacticipant: (b: string, p: string) => `${b}/pacticipants/${enc(p)}`,
  version: (b: string, p: string, v: string) => `${b}/pacticipants/${enc(p)}/versions/${enc(v)}`,
  pactForVersion: (b: string, prov: string, cons: string, v: string) =>
    `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/version/${enc(v)}`,
  pactVersion: (b: string, prov: string, cons: string, sha: string) =>
    `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/pact-version/${sha}`,
  verification: (b: string, prov: string, cons: string, sha: string, id: number) =>
    `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/pact-version/${sha}/verification-results/${id}`,
  environment: (b: string, uuid: string) => `${b}/environments/${uuid}`,
  forVerification: (b: string, prov: string) => `${b}/pacts/provider/${enc(prov)}/for-verification`,
  currentlyDeployed: (b: string, uuid: string) =>
    `${b}/environments/${uuid}/deployed-versions/currently-deployed`,
  currentlySupported: (b: string, uuid: string) =>
    `${b}/environments/${uuid}/released-versions/currently-supported`,
  deployedVersion: (b: string, uuid: string) => `${b}/deployed-versions/${uuid}`,
  releasedVersion: (b: string, uuid: string) => `${b}/released-versions/${uuid}`,
  branch: (b: string, p: string, branch: string) => `${b}/pacticipants/${enc(p)}/branches/${enc(branch)}`,
  webhooks: (b: string) => `${b}/webhooks`,
  webhook: (b: string, uuid: string) => `${b}/webhooks/${uuid}`,
  webhookExecution: (b: string, uuid: string) => `${b}/webhooks/${uuid}/execute`,
  triggeredWebhookLogs: (b: string, uuid: string) => `${b}/triggered-webhooks/${uuid}/logs`,
  pactWebhooks: (b: string, prov: string, cons: string) =>
    `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/webhooks`,
};
