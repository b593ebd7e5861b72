"""Draws reports/bench/chart.png from report.json (written by bench/run.ts)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

report = json.load(open(sys.argv[1]))
fig, axes = plt.subplots(2, 2, figsize=(13, 9))
fig.suptitle(f"Accord benchmarks ({report['mode']} run, {report['machine']['cpus']} cores, {report['startedAt'][:16]})")

orders = report.get("orders")
ax = axes[0][0]
if orders:
    rows = orders["lookup"]["rows"]
    names = [r["target"] for r in rows]
    tput = [r["throughput"] for r in rows]
    colors = ["#2b6cb0" if n.startswith("connect") or n == "grpc-connect" else "#a0aec0" for n in names]
    bars = ax.bar(names, tput, color=colors)
    for b, r in zip(bars, rows):
        ax.annotate(f"{r['throughput']}/s\np99 {r['latency']['p99']:.1f} ms", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ratio = orders["lookup"]["ratios"]["connectJsonVsPlain"]
    ax.set_title(f"GetOrder throughput (Connect JSON / plain = {ratio * 100:.0f} %, target 70 %)")
    ax.set_ylabel("requests / s")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(0, max(tput) * 1.25 if tput else 1)
else:
    ax.set_title("lookup: not run")

ax = axes[0][1]
if orders:
    rows = orders["checkout"]["rows"]
    rates = [r["rate"] for r in rows]
    ax.plot(rates, [r["service"]["latency"]["p99"] for r in rows], "o-", color="#2b6cb0", label="PlaceOrder p99")
    ax.plot(rates, [r["service"]["latency"]["p50"] for r in rows], "o--", color="#2b6cb0", alpha=0.6, label="PlaceOrder p50")
    ax.plot(rates, [r["floor"]["latency"]["p99"] for r in rows], "s-", color="#718096", label="bare 2-INSERT tx p99")
    ax.plot(rates, [r["floor"]["latency"]["p50"] for r in rows], "s--", color="#718096", alpha=0.6, label="bare 2-INSERT tx p50")
    ax.axhline(15, color="#c53030", linestyle=":", label="target p99 15 ms at 500/s")
    ax.set_xticks(rates)
    ax.set_xlabel("offered rate (open loop), requests / s")
    ax.set_ylabel("latency from scheduled send, ms")
    ax.set_title("Checkout latency vs rate")
    ax.legend(fontsize=8)
else:
    ax.set_title("checkout: not run")

e2e = report.get("e2e")
ax = axes[1][0]
if e2e:
    labels = ["p50", "p95", "p99", "max"]
    conf = [e2e["placedToConfirmed"][k] for k in ["p50", "p95", "p99", "max"]]
    seen = [e2e["placedToConfirmedSeen"][k] for k in ["p50", "p95", "p99", "max"]]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], conf, width=0.4, color="#2b6cb0", label="placed -> CONFIRMED (ce_time)")
    ax.bar([i + 0.2 for i in x], seen, width=0.4, color="#90cdf4", label="placed -> OrderConfirmed read from Kafka")
    ax.axhline(1000, color="#c53030", linestyle=":", label="target p99 1 s")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels)
    ax.set_ylabel("ms")
    ax.set_title(
        f"End to end at {e2e['targetRate']}/s for {e2e['seconds']} s: {e2e['confirmed']}/{e2e['placed']} confirmed, "
        f"lag p99 {e2e['lagMs']['p99']:.0f} ms, {e2e['notTerminalAtEnd']} not terminal",
        fontsize=9,
    )
    ax.legend(fontsize=8)
else:
    ax.set_title("end to end: not run")

ax = axes[1][1]
notif = report.get("notifications")
events = report.get("events")
if notif:
    rows = notif["rows"]
    names = ["service worker" if i == 0 else ("worker, prefetch 100" if "PREFETCH" in r["path"] else "bare lib/rabbit") for i, r in enumerate(rows)]
    vals = [r["deliveriesPerSec"] for r in rows]
    bars = ax.bar(names, vals, color=["#2b6cb0", "#63b3ed", "#a0aec0"][: len(rows)])
    for b, v in zip(bars, vals):
        ax.annotate(f"{v}/s", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.axhline(1000, color="#c53030", linestyle=":", label="target 1000/s")
    ax.set_ylabel("webhook deliveries / s")
    title = "Webhook deliveries (publisher confirms)"
    if events:
        placed = events["rows"][0]
        title += f"\nOrderPlaced: {placed['protobufBytes']} B protobuf vs {placed['jsonBytes']} B JSON"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
else:
    ax.set_title("notifications: not run")

fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
