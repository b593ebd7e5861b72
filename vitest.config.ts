import { defineConfig } from "vitest/config";

// Projects, one command: unit and conformance tests need no infrastructure;
// integration and contract tests need the real infrastructure, located by
// test/setup/infrastructure.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["test/unit/**/*.test.ts", "services/**/*.unit.test.ts", "tools/**/*.unit.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          sequence: { groupOrder: 1 },
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/infrastructure.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file talks to shared brokers; two cores gain nothing from more.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: "contract",
          sequence: { groupOrder: 2 },
          include: ["test/contract/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/infrastructure.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
        },
      },
      {
        // The Connect conformance suite against the RPC server stack (conformance/):
        // no infrastructure; the runner is built by scripts/conformance.sh.
        test: {
          name: "conformance",
          sequence: { groupOrder: 3 },
          include: ["test/conformance/**/*.test.ts"],
          environment: "node",
          testTimeout: 240_000,
          // Each run drives two server processes and the runner; two cores.
          maxWorkers: 1,
        },
      },
      {
        // The operations console in Debian's chromium (playwright-core) against a
        // whole platform; its console listens on 8099, the one port the realm's
        // browser client may redirect to, so one file at a time.
        test: {
          name: "browser",
          sequence: { groupOrder: 4 },
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/infrastructure.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          maxWorkers: 1,
        },
      },
      {
        // Restarts shared infrastructure, so it runs alone, after every other group.
        test: {
          name: "chaos",
          sequence: { groupOrder: 5 },
          include: ["test/chaos/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/setup/infrastructure.ts"],
          testTimeout: 900_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
        },
      },
    ],
  },
});
