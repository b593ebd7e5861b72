import http from "node:http";

/** A non-2xx answer; `status` tells a refusal (4xx) from an overloaded server. */
export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, body: string) {
    super(`HTTP ${status}: ${body}`);
    this.status = status;
  }
}

/**
 * Minimal keep-alive HTTP/1.1 POST for the open-loop generators: node:http
 * is lighter per request than fetch, so the generator stays off the
 * critical path. Resolves with the body when the status is 2xx, rejects
 * with HttpStatusError otherwise.
 */
export function createPoster(baseUrl: string, maxSockets = 256) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    /** `headers`: extra request headers, e.g. the caller's authorization. */
    post(
      path: string,
      body: string | Buffer,
      contentType = "application/json",
      headers?: Record<string, string>,
    ): Promise<Buffer> {
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            method: "POST",
            path,
            agent,
            headers: {
              "content-type": contentType,
              "content-length": Buffer.byteLength(body),
              "connect-protocol-version": "1",
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const out = Buffer.concat(chunks);
              const status = res.statusCode ?? 0;
              if (status >= 200 && status < 300) resolve(out);
              else reject(new HttpStatusError(status, out.toString().slice(0, 200)));
            });
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
