import type { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import type { AuthorizationTable } from "#lib/auth/authorization.ts";

/** Who may call each SagaService method: the saga's inner workings are for operators. */
export const sagaAuthorization: AuthorizationTable<typeof SagaService> = {
  getSaga: { allow: ["ops"], scope: "any order" },
};
