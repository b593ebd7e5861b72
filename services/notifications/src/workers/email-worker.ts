import type { Transporter } from "nodemailer";
import { EmailTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { PoisonMessageError, type Task } from "#lib/messaging/rabbit.ts";
import { tagOrder } from "#lib/observability/tracing.ts";
import { isUuid } from "#lib/validation.ts";
import { decodeTask, deliverOnce, headerString, type WorkerDeps } from "./deliver.ts";

export const EMAIL_CONSUMER = "email-worker";

/** Sends one EmailTask through SMTP. */
export function createEmailHandler(deps: WorkerDeps & { transporter: Transporter; from: string }) {
  return async (task: Task): Promise<void> => {
    const email = decodeTask(EmailTaskSchema, task);
    if (!isUuid(email.taskId)) throw new PoisonMessageError("email task without a valid task_id");
    if (!/^[^\s@]+@[^\s@]+$/.test(email.to))
      throw new PoisonMessageError("email task without a valid recipient");
    tagOrder(email.orderId);
    const key = {
      deliveryId: email.taskId,
      eventId: email.eventId,
      eventType: headerString(task, "event-type") ?? "unknown",
      orderId: email.orderId,
      channel: "email" as const,
    };
    await deliverOnce(deps, EMAIL_CONSUMER, task, key, async () => {
      await deps.transporter.sendMail({
        from: deps.from,
        to: email.to,
        subject: email.subject,
        text: email.textBody,
        // Stable per task, so a resend after a lost commit is recognisable downstream.
        messageId: `<${email.taskId}@accord.local>`,
        headers: { "X-Accord-Event-Id": email.eventId, "X-Accord-Order-Id": email.orderId },
      });
    });
  };
}
