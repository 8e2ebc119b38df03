"""The eval's picture: success rate against cost (or tokens) per variant, with error bars.

matplotlib is imported here only, when a plot is asked for (``pip install 'exo-agents[eval]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exo.errors import ConfigError
from exo.eval.report import VariantSummary
from exo.eval.stats import Estimate

__all__ = ["plot"]


def _bars(e: Estimate) -> tuple[float, float]:
    low = e.value if e.low is None else e.low
    high = e.value if e.high is None else e.high
    return max(0.0, e.value - low), max(0.0, high - e.value)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError(
            "exo eval --plot needs matplotlib",
            parameter="plot",
            hint="pip install 'exo-agents[eval]'",
        ) from exc
    return plt


def plot(summaries: Sequence[VariantSummary], path: str | Path, *, title: str) -> Path:
    """Write a PNG of success rate (Wilson 95%) against mean cost, or tokens when no cost is
    known, per variant (t 95% error bars); return its path."""
    plt = _pyplot()
    use_cost = all(s.cost is not None for s in summaries)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for index, s in enumerate(summaries):
        x = s.cost if use_cost else s.tokens
        if x is None:
            continue
        lo, hi = _bars(s.success)
        xlo, xhi = _bars(x)
        ax.errorbar(
            [x.value], [s.success.value * 100], xerr=[[xlo], [xhi]],
            yerr=[[lo * 100], [hi * 100]], fmt="o", capsize=5, markersize=8, label=s.name,
        )  # fmt: skip
        # Inside the axes (above low points, below high ones), staggered so that
        # neighbouring labels do not overprint.
        dy = (8 + 12 * (index % 2)) * (1 if s.success.value < 0.5 else -1.6)
        ax.annotate(
            f"{s.successes}/{s.trials}", (x.value, s.success.value * 100),
            textcoords="offset points", xytext=(6, dy), fontsize=9,
        )  # fmt: skip
    ax.set_xlabel("mean cost per task (USD)" if use_cost else "mean tokens per task")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(-5, 110)
    ax.set_title(title, fontsize=10, pad=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, title="variant (passed/runs)", title_fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
