import type { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/**
 * Who may call each PaymentService method: charges only for the saga; refunds
 * for the saga (compensating) and ops (a captured payment only, see Refund).
 */
export const paymentAuthorization: AuthorizationTable<typeof PaymentService> = {
  charge: { allow: ["service:orchestrator"] },
  refund: { allow: ["service:orchestrator", "ops"], scope: "saga: any order; ops: a captured payment only" },
  getPayment: { allow: ["ops", "service:orchestrator"], scope: "all payments" },
};
