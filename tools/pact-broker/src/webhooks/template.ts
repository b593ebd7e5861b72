// The ${pactbroker.*} template parameters of the real broker and how they are
// filled into a webhook's URL and body.

/** Every parameter the real broker substitutes, as written in a template without "${" and "}". */
export const TEMPLATE_PARAMETERS = [
  "pactbroker.consumerName",
  "pactbroker.providerName",
  "pactbroker.consumerVersionNumber",
  "pactbroker.providerVersionNumber",
  "pactbroker.providerVersionTags",
  "pactbroker.providerVersionDescriptions",
  "pactbroker.providerVersionBranch",
  "pactbroker.consumerVersionTags",
  "pactbroker.consumerVersionBranch",
  "pactbroker.pactUrl",
  "pactbroker.verificationResultUrl",
  "pactbroker.githubVerificationStatus",
  "pactbroker.bitbucketVerificationStatus",
  "pactbroker.azureDevOpsVerificationStatus",
  "pactbroker.gitlabVerificationStatus",
  "pactbroker.consumerLabels",
  "pactbroker.providerLabels",
  "pactbroker.eventName",
  "pactbroker.buildUrl",
  "pactbroker.currentlyDeployedProviderVersionNumber",
] as const;

export type TemplateParameter = (typeof TEMPLATE_PARAMETERS)[number];
export type TemplateParameters = Record<TemplateParameter, string>;

/** All parameters empty: what a template sees for anything the event does not have. */
export function emptyParameters(): TemplateParameters {
  return Object.fromEntries(TEMPLATE_PARAMETERS.map((p) => [p, ""])) as TemplateParameters;
}

/** The commit status keywords of each code host for a verification outcome (none yet: pending). */
export function verificationStatuses(success: boolean | undefined) {
  if (success === undefined)
    return {
      "pactbroker.githubVerificationStatus": "pending",
      "pactbroker.bitbucketVerificationStatus": "INPROGRESS",
      "pactbroker.azureDevOpsVerificationStatus": "pending",
      "pactbroker.gitlabVerificationStatus": "pending",
    };
  return {
    "pactbroker.githubVerificationStatus": success ? "success" : "failure",
    "pactbroker.bitbucketVerificationStatus": success ? "SUCCESSFUL" : "FAILED",
    "pactbroker.azureDevOpsVerificationStatus": success ? "succeeded" : "failed",
    "pactbroker.gitlabVerificationStatus": success ? "success" : "failed",
  };
}

const PLACEHOLDER = /\$\{(pactbroker\.[A-Za-z]+)\}/g;

/** Replaces the known parameters in text; unknown ones stay as written, as in the real broker. */
export function render(
  text: string,
  params: Record<string, string>,
  encode: (value: string) => string = (v) => v,
): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : encode(value);
  });
}

/** A URL template: values are URL-escaped, so a pact URL can travel in a query parameter. */
export function renderUrl(url: string, params: Record<string, string>): string {
  return render(url, params, encodeURIComponent);
}

/**
 * The request body: a string template is filled in as text; a JSON template
 * has its strings filled in one by one, so a value with a quote in it cannot
 * break the JSON.
 */
export function renderBody(body: unknown, params: Record<string, string>): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return render(body, params);
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return render(v, params);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [render(k, params), walk(x)]));
    return v;
  };
  return JSON.stringify(walk(body));
}
