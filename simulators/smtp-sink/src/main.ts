import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { runService } from "#lib/host/service-host.ts";
import { loadSmtpSinkConfig } from "./config.ts";
import { MessageStore } from "./store.ts";

// A local mail server for development and tests: accepts every message over
// plain SMTP (no auth, no TLS), keeps it parsed in memory and shows it over
// HTTP (GET /messages[?to=], DELETE /messages) on the host's port.
await runService({
  name: "smtp-sink",
  loadConfig: loadSmtpSinkConfig,
  listen: (config) => ({ host: config.SMTP_SINK_HOST, port: config.SMTP_SINK_HTTP_PORT }),
  async compose(host, config) {
    const { logger } = host;
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
    await new Promise<void>((resolve, reject) => {
      smtp.server.once("error", reject);
      smtp.listen(config.SMTP_SINK_PORT, config.SMTP_SINK_HOST, () => {
        smtp.server.off("error", reject);
        resolve();
      });
    });
    // smtp.close waits for open sessions; the host's deadline bounds a stuck client.
    host.onShutdown("smtp server", () => new Promise<void>((resolve) => smtp.close(() => resolve())));
    host.ready("smtp server", () => {
      if (!smtp.server.listening) throw new Error("not listening");
    });
    logger.info({ smtpPort: (smtp.server.address() as AddressInfo).port }, "smtp listening");

    host.http((req, res) => {
      const url = new URL(req.url ?? "/", "http://sink");
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === "/messages") {
        if (req.method === "GET") return send(200, store.list(url.searchParams.get("to") ?? undefined));
        if (req.method === "DELETE") return send(200, { deleted: store.clear() });
        return send(405, { error: "method not allowed" });
      }
      return send(404, { error: "not found" });
    });
  },
});
