#!/usr/bin/env bash
# `npm test`: every test project (unit, integration, contract) in one vitest run.
# Integration and contract tests need the infrastructure (`npm start` or
# `npm run infra:up`); the test setup says so at once when it is missing.
# Ends with one line `N passed, N failed`, counted from vitest's JSON report.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
mkdir -p "$ACCORD_HOME/reports"
report="$ACCORD_HOME/reports/vitest.json"
rm -f "$report"
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
if [[ -f "$report" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A suite that failed to load counts as a failure even with no test inside.
    const brokenFiles = (r.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
    let failed = r.numFailedTests + brokenFiles;
    // Errors outside any test (config, unhandled rejections) fail the run too.
    if (!r.success && failed === 0) failed = 1;
    const line = `${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : "");
    console.log(line);
  ' "$report"
else
  echo "0 passed, 1 failed"
  [[ $status -eq 0 ]] && status=1
fi
exit $status
