import type { Payload } from "@temporalio/common";
import type { WorkflowInterceptorsFactory } from "@temporalio/workflow";

/*
 * Bundled into the workflow sandbox while tracing is on (ADR 0023): the trace
 * context the workflow was started with (the bridge's StartWorkflow span,
 * written by the client interceptor) goes on, unchanged, into the headers of
 * every activity the workflow schedules, where the activity interceptor makes
 * the RunActivity span its child. No span is recorded inside the sandbox:
 * a workflow span only ends when the run does, which for a confirmed order
 * is the delivery (days later), and until then the activities' spans named a
 * parent Zipkin did not have. Recording them was also a fifth of the
 * workflow thread's time.
 */

/** @temporalio/interceptors-opentelemetry's header (its TRACE_HEADER; a unit test holds them equal). */
export const TRACE_CONTEXT_HEADER = "_tracer-data";

export const interceptors: WorkflowInterceptorsFactory = () => {
  let startedWith: Payload | undefined;
  return {
    inbound: [
      {
        execute(input, next) {
          startedWith = input.headers[TRACE_CONTEXT_HEADER];
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity(input, next) {
          if (!startedWith || input.headers[TRACE_CONTEXT_HEADER]) return next(input);
          return next({ ...input, headers: { ...input.headers, [TRACE_CONTEXT_HEADER]: startedWith } });
        },
      },
    ],
  };
};
