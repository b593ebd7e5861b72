import type { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each PaymentService method: money moves only for the saga. */
export const paymentAuthorization: AuthorizationTable<typeof PaymentService> = {
  charge: { allow: ["service:orchestrator"] },
  refund: { allow: ["service:orchestrator"] },
  getPayment: { allow: ["ops", "service:orchestrator"], scope: "all payments" },
};
