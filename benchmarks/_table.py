"""Turn compare.py's per-driver reports into its tables, and merge rounds."""

from __future__ import annotations

import json
from typing import Any

Row = dict[str, Any]
BASELINE = "bare_aiohttp"
EXO = "exo_agent"


def _scenario(row: Row, latency: float, concurrency: int) -> dict[str, Any] | None:
    for sc in row.get("scenarios", []):
        if sc["latency_ms"] == latency and sc["concurrency"] == concurrency:
            result: dict[str, Any] = sc
            return result
    return None


def _cell(row: Row, latency: float, concurrency: int, key: str, fmt: str) -> str:
    sc = _scenario(row, latency, concurrency)
    if sc is None:
        return "-"
    mark = "!" if sc["failures"] else ""
    return format(sc[key], fmt) + mark


def _overhead(row: Row, base: Row | None) -> str:
    a, b = _scenario(row, 0, 1), _scenario(base or {}, 0, 1)
    if a is None or b is None:
        return "-"
    return f"{a['cpu_us_per_call'] - b['cpu_us_per_call']:+.0f}"


COLUMNS = [
    ("framework", "framework"),
    ("c1 0ms runs/s", "runs/s c=1 0ms"),
    ("c1 0ms µs/call", "CPU µs/call c=1 0ms"),
    ("c200 0ms runs/s", "runs/s c=200 0ms"),
    ("c200 0ms µs/call", "CPU µs/call c=200 0ms"),
    ("c1 50ms runs/s", "runs/s c=1 50ms"),
    ("c1 50ms µs/call", "CPU µs/call c=1 50ms"),
    ("c200 50ms runs/s", "runs/s c=200 50ms"),
    ("c200 50ms µs/call", "CPU µs/call c=200 50ms"),
    ("ovh µs/call", "overhead µs/call"),
    ("TTFT ms", "TTFT ms (stream)"),
    ("RSS MB", "peak RSS MB"),
    ("import ms", "import ms"),
    ("cold ms", "cold start ms"),
]


def table_rows(rows: list[Row]) -> list[list[str]]:
    """Turn reports into table cells (one list per driver)."""
    base = next((r for r in rows if r["driver"] == BASELINE and "error" not in r), None)
    out = []
    for row in rows:
        if "error" in row:
            out.append([row["label"], f"error: {row['error'][:100]}"] + [""] * (len(COLUMNS) - 2))
            continue
        stream = row.get("stream") or {}
        cells = [row["label"]]
        for lat, conc in ((0, 1), (0, 200), (50, 1), (50, 200)):
            cells.append(_cell(row, lat, conc, "runs_per_s", ".0f"))
            cells.append(_cell(row, lat, conc, "cpu_us_per_call", ".0f"))
        cells.append(_overhead(row, base))
        ttft = stream.get("ttft_ms_median", float("nan"))
        cells.append(f"{ttft:.1f}" + ("!" if stream.get("failures") else ""))
        cells.append(f"{row['peak_rss_mb']:.0f}")
        cells.append(f"{row['import_ms']:.0f}")
        cells.append(f"{row['cold_start_ms']:.0f}")
        out.append(cells)
    return out


def render(rows: list[Row], markdown: bool) -> str:
    """Render the one results table, as aligned text or Markdown."""
    cells = table_rows(rows)
    if markdown:
        head = [long for _short, long in COLUMNS]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    head = [short for short, _long in COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head)] + [fmt.format(*c) for c in cells])


def ratios(rows: list[Row]) -> str:
    """exo's CPU per model call and throughput relative to every other driver."""
    by = {r["driver"]: r for r in rows if "error" not in r}
    exo = by.get(EXO)
    if exo is None:
        return "exo did not run; no ratios."
    lines = [
        "| exo vs | CPU/call c=1 | CPU/call c=200 | runs/s c=200 0ms | runs/s c=200 50ms |",
        "|---|---|---|---|---|",
    ]
    for name, row in by.items():
        if name == EXO:
            continue
        parts = []
        for lat, conc, key in (
            (0, 1, "cpu_us_per_call"),
            (0, 200, "cpu_us_per_call"),
            (0, 200, "runs_per_s"),
            (50, 200, "runs_per_s"),
        ):
            a, b = _scenario(exo, lat, conc), _scenario(row, lat, conc)
            parts.append(f"{a[key] / b[key]:.2f}×" if a and b and b[key] else "-")
        lines.append(f"| {row['label']} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def best_of(rows: list[Row]) -> Row:
    """Merge one driver's rounds, keeping each metric's best value (noise only ever adds cost).

    Failures are summed, so a failure in any round still shows.
    """
    good = [r for r in rows if "error" not in r]
    if not good:
        return rows[0]
    best: Row = json.loads(json.dumps(good[0]))
    for key in ("import_ms", "cold_start_ms", "peak_rss_mb"):
        best[key] = min(r[key] for r in good)
    for i, sc in enumerate(best["scenarios"]):
        same = [r["scenarios"][i] for r in good]
        sc["runs_per_s"] = max(x["runs_per_s"] for x in same)
        for key in ("cpu_us_per_call", "cpu_ms_per_run", "mock_busy"):
            sc[key] = min(x[key] for x in same)
        sc["failures"] = sum(x["failures"] for x in same)
    if best.get("stream"):
        streams = [r["stream"] for r in good if r.get("stream")]
        for key in ("ttft_ms_median", "ttft_ms_p90", "run_ms_median", "cpu_us_per_call"):
            best["stream"][key] = min(x[key] for x in streams)
        best["stream"]["failures"] = sum(x["failures"] for x in streams)
    return best
