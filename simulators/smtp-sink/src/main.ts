import http from "node:http";
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { createLogger } from "#lib/observability/logger.ts";
import { loadSmtpSinkConfig } from "./config.ts";
import { MessageStore } from "./store.ts";

// A local mail server for development and tests: accepts every message over
// plain SMTP (no auth, no TLS), keeps it parsed in memory and shows it over HTTP.
const logger = createLogger("smtp-sink");

async function main() {
  const config = loadSmtpSinkConfig();
  const store = new MessageStore(config.SMTP_SINK_MAX_MESSAGES);

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    size: config.SMTP_SINK_MAX_SIZE_BYTES,
    logger: false,
    banner: "accord smtp-sink",
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const from = session.envelope.mailFrom === false ? undefined : session.envelope.mailFrom.address;
          const to = session.envelope.rcptTo.map((r) => r.address);
          const stored = store.add(parsed, { from, to });
          logger.info({ id: stored.id, to: stored.to, subject: stored.subject }, "message received");
          callback();
        })
        .catch((err: unknown) => {
          logger.warn({ err }, "could not parse a message");
          callback(err instanceof Error ? err : new Error(String(err)));
        });
    },
  });
  smtp.on("error", (err) => logger.error({ err }, "smtp server error"));

  let smtpListening = false;
  await new Promise<void>((resolve, reject) => {
    smtp.server.once("error", reject);
    smtp.listen(config.SMTP_SINK_PORT, config.SMTP_SINK_HOST, () => {
      smtp.server.off("error", reject);
      smtpListening = true;
      resolve();
    });
  });

  const api = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://sink");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && url.pathname === "/healthz") return send(200, { status: "ok" });
    if (req.method === "GET" && url.pathname === "/readyz") {
      return smtpListening ? send(200, { status: "ok" }) : send(503, { status: "unavailable" });
    }
    if (url.pathname === "/messages") {
      if (req.method === "GET") return send(200, store.list(url.searchParams.get("to") ?? undefined));
      if (req.method === "DELETE") return send(200, { deleted: store.clear() });
      return send(405, { error: "method not allowed" });
    }
    return send(404, { error: "not found" });
  });
  await new Promise<void>((resolve, reject) => {
    api.once("error", reject);
    api.listen(config.SMTP_SINK_HTTP_PORT, config.SMTP_SINK_HOST, () => resolve());
  });
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  logger.info({ smtpPort, httpPort: config.SMTP_SINK_HTTP_PORT }, "smtp sink listening");

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    smtpListening = false;
    logger.info({ signal }, "shutting down");
    api.closeAllConnections();
    api.close();
    smtp.close(() => process.exit(0));
    // smtp.close waits for open sessions; do not hang on a stuck client.
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "smtp sink failed to start");
  process.exit(1);
});
