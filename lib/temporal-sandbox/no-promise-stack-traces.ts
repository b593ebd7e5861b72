/*
 * Preloaded once into the workflow sandbox (WorkerOptions.bundlerOptions.
 * preloadModules), before the SDK freezes the sandbox's globals, so the value
 * holds for every workflow the worker runs.
 *
 * Why: @temporalio/worker installs a promise hook that builds a source-mapped
 * stack trace for every promise a workflow creates (it serves the
 * `__stack_trace` query). The profile of the orchestrator's workflow thread
 * put 44.6 % of its time there (ADR 0023). The hook captures frames through
 * the sandbox's own Error, so a limit of 0 leaves it nothing to map. What is
 * given up: the `__stack_trace` query answers with no frames (a bare "Error"
 * per pending promise), and errors created in workflow code carry their
 * message without frames. Activity errors (thrown
 * outside the sandbox) keep theirs.
 */
Error.stackTraceLimit = 0;

export {};
