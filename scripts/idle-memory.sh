#!/usr/bin/env bash
# Idle memory of the running platform: the RSS of every process each started
# service and infrastructure part runs (all processes of its session, so a
# launcher and what it starts both count, as tsx and its node child did
# before ADR 0015), and the total. Run after `npm start`
# once the sample orders are done. Prints a markdown table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../infra/env.sh"
RUN="$ACCORD_HOME/run"
total=0
printf '| process | processes | RSS (MB) |\n|---|---:|---:|\n'
for f in "$RUN"/*.pid; do
  name="$(basename "$f" .pid)"
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || continue
  # Its session when it leads one (setsid), else the process itself.
  sel=(-s "$pid"); ps -o pid= -s "$pid" >/dev/null 2>&1 || sel=(-p "$pid")
  kb="$(ps -o rss= "${sel[@]}" | awk '{s+=$1} END{print s+0}')"
  n="$(ps -o pid= "${sel[@]}" | wc -l)"
  total=$((total + kb))
  printf '| %s | %s | %.0f |\n' "$name" "$n" "$(echo "$kb/1024" | bc -l)"
done
pgdata="$ACCORD_HOME/data/postgres"
if [[ -f "$pgdata/postmaster.pid" ]]; then
  pid="$(head -n 1 "$pgdata/postmaster.pid")"
  kb="$(ps -o rss= --ppid "$pid" -p "$pid" | awk '{s+=$1} END{print s+0}')"
  total=$((total + kb))
  printf '| postgres | %s | %.0f |\n' "$(ps -o pid= --ppid "$pid" -p "$pid" | wc -l)" "$(echo "$kb/1024" | bc -l)"
fi
printf '| **total** | | **%.0f** |\n' "$(echo "$total/1024" | bc -l)"
