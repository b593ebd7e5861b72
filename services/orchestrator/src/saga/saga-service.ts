import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Client } from "@temporalio/client";
import { WorkflowNotFoundError } from "@temporalio/common";
import { GetSagaResponseSchema, type SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import type { Logger } from "#lib/observability/logger.ts";
import { requireUuid } from "#lib/rpc/errors.ts";
import { orderWorkflowId } from "../bridge.ts";
import { orderStatusQuery } from "../workflows/order.ts";
import { type HistoryEventLike, runStatusOf, sagaStatusFrom, sagaStepsFrom } from "./saga-steps.ts";

export interface SagaServiceDeps {
  client: Client;
  logger: Logger;
  /** How long the describe, the query and the history fetch may each take. */
  timeoutMs?: number;
}

/**
 * SagaService: what the order's workflow says about itself (the status
 * query) and what Temporal recorded (run status, activities). Reads only.
 */
export function createSagaService(deps: SagaServiceDeps): ServiceImpl<typeof SagaService> {
  const timeoutMs = deps.timeoutMs ?? 5_000;
  const within = <T>(fn: () => Promise<T>) => deps.client.connection.withDeadline(Date.now() + timeoutMs, fn);

  return {
    async getSaga(req) {
      requireUuid(req.orderId, "order_id");
      const workflowId = orderWorkflowId(req.orderId);
      const handle = deps.client.workflow.getHandle(workflowId);
      let description: Awaited<ReturnType<typeof handle.describe>>;
      try {
        description = await within(() => handle.describe());
      } catch (error) {
        if (error instanceof WorkflowNotFoundError || (error as { code?: number })?.code === 5) {
          throw new ConnectError(`no saga for order ${req.orderId}`, Code.NotFound);
        }
        throw new ConnectError("temporal did not answer", Code.Unavailable);
      }
      const [history, status] = await Promise.all([
        within(() => handle.fetchHistory()),
        // A query needs a worker to replay the workflow; without one the
        // answer still has the history, and says the status is unknown.
        within(() => handle.query(orderStatusQuery)).catch((err: unknown) => {
          deps.logger.info({ workflowId, err }, "saga status query not answered");
          return undefined;
        }),
      ]).catch((error: unknown) => {
        if (error instanceof ConnectError) throw error;
        throw new ConnectError("temporal did not answer", Code.Unavailable);
      });
      return create(GetSagaResponseSchema, {
        orderId: req.orderId,
        workflowId,
        runId: description.runId,
        runStatus: runStatusOf(description.status.name),
        ...(status ? { status: sagaStatusFrom(status) } : {}),
        steps: sagaStepsFrom((history.events ?? []) as HistoryEventLike[]),
        startedAt: timestampFromDate(description.startTime),
        ...(description.closeTime ? { closedAt: timestampFromDate(description.closeTime) } : {}),
      });
    },
  };
}
