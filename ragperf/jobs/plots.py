"""PNG figures of a ``ragperf run`` report (matplotlib, Agg backend: no display needed).

- :func:`ladder_bars` - the blog's ladder: latency per optimization level beside its in-process eager,
  speedup over eager on each bar, its 95% interval as an error bar;
- :func:`decode_latency` - per-token decode latency over the generation, one line per compile
  mode (the overhead paper's Figure 8: the compile spike at the first decode tokens);
- :func:`cumulative_time` - cumulative wall time per mode with the break-even point marked
  (Figures 9-10), extended past the measured tokens along each mode's steady per-token slope.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ragperf.jobs.decode import break_even_tokens, cumulative_seconds  # noqa: E402

MODE_STYLE = {"eager": ("tab:gray", "-"), "compile-decode": ("tab:blue", "-"),
              "compile-prefill-decode": ("tab:orange", "--")}


def ladder_bars(rows: list[dict], path: Path, title: str) -> Path:
    """Per ladder variant, its median latency beside the eager it was timed against in the same process
    (latencies drift between processes; the pair does not), its speedup on top, the speedup's 95%
    interval as the error bar (eager / speedup)."""
    x = np.arange(len(rows))
    eager_ms = np.array([r["eager_median_s"] * 1e3 for r in rows])
    ms = np.array([r["median_s"] * 1e3 for r in rows])
    below = np.maximum(ms - eager_ms / np.array([r["speedup_high"] for r in rows]), 0)
    above = np.maximum(eager_ms / np.array([r["speedup_low"] for r in rows]) - ms, 0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.38
    ax.bar(x - width / 2, eager_ms, width, color="tab:gray", label="eager (same process)")
    colors = ["tab:green" if r["speedup"] > 1 else "tab:red" for r in rows]
    bars = ax.bar(x + width / 2, ms, width, color=colors, yerr=[below, above], capsize=4, label="compiled")
    for bar, r, up in zip(bars, rows, above, strict=True):
        ax.annotate(f"{r['speedup']:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height() + up),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom")
    ax.set_xticks(x, [r["variant"] for r in rows])
    ax.set_ylabel("latency per call (ms, median)")
    ax.set_title(title)
    ax.legend(loc="lower left")
    return _save(fig, path)


def decode_latency(jobs: dict[str, dict], path: Path, title: str) -> Path:
    """Per-token decode latency (log scale) vs token index, one panel per batch size, one line per mode."""
    batch_sizes = _batch_sizes(jobs)
    fig, axes = plt.subplots(1, len(batch_sizes), figsize=(5 * len(batch_sizes), 4.2), squeeze=False)
    for ax, batch_size in zip(axes[0], batch_sizes, strict=False):
        for mode, row in _rows(jobs, batch_size):
            color, style = MODE_STYLE.get(mode, (None, "-"))
            ax.plot(range(1, len(row["step_s"]) + 1), [s * 1e3 for s in row["step_s"]], style, color=color,
                    label=mode, marker=".", markersize=3)
        ax.set_yscale("log")
        ax.set_xlabel("decode token")
        ax.set_ylabel("latency of this token (ms, log)")
        ax.set_title(f"batch size {batch_size}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def cumulative_time(jobs: dict[str, dict], path: Path, title: str) -> Path:
    """Cumulative seconds vs decode tokens per mode; dotted lines extend each mode at its steady slope,
    a star marks where a compiled mode catches up with eager."""
    batch_sizes = _batch_sizes(jobs)
    fig, axes = plt.subplots(1, len(batch_sizes), figsize=(5 * len(batch_sizes), 4.2), squeeze=False)
    for ax, batch_size in zip(axes[0], batch_sizes, strict=False):
        rows = dict(_rows(jobs, batch_size))
        crossings = break_even_marks(rows)
        measured = max(len(r["step_s"]) for r in rows.values())
        # Extend to the break-even, but at most 10x the measured tokens: farther ones are named, not drawn.
        horizon = min(max([measured, *[c * 1.25 for c in crossings.values() if c]]), 10 * measured)
        for mode, row in rows.items():
            color, style = MODE_STYLE.get(mode, (None, "-"))
            cumulative = cumulative_seconds(row)
            ax.plot(range(len(cumulative)), cumulative, style, color=color, label=mode)
            if horizon > len(cumulative) - 1:  # steady-state extension to the break-even point
                ax.plot([len(cumulative) - 1, horizon],
                        [cumulative[-1], cumulative[-1] + (horizon - len(cumulative) + 1) * row["per_token_s"]],
                        ":", color=color)
        for mode, tokens in crossings.items():
            if tokens and tokens <= horizon:
                at = _seconds_at(rows[mode], tokens)
                ax.plot([tokens], [at], "*", color=MODE_STYLE.get(mode, ("k",))[0], markersize=14,
                        markeredgecolor="black")
                ax.annotate(f"break-even\n{tokens:.0f} tokens", (tokens, at), xytext=(-10, 12),
                            textcoords="offset points", ha="right", fontsize=8)
        notes = [f"{m}: no break-even" for m, t in crossings.items() if t is None]
        notes += [f"{m}: break-even at {t:.0f} tokens (off chart)" for m, t in crossings.items() if t and t > horizon]
        if notes:
            ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=8)
        ax.set_xlabel("decode tokens")
        ax.set_ylabel("cumulative time (s, prefill included)")
        ax.set_title(f"batch size {batch_size}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return _save(fig, path)


def break_even_marks(rows: dict[str, dict]) -> dict[str, float | None]:
    """Break-even tokens of each compiled mode against eager, for one batch size's rows by mode."""
    eager = rows.get("eager")
    return {m: break_even_tokens(eager, r) for m, r in rows.items() if eager and m != "eager"}


def _seconds_at(row: dict, tokens: float) -> float:
    return row["fixed_s"] + tokens * row["per_token_s"]


def _batch_sizes(jobs: dict[str, dict]) -> list[int]:
    return sorted({row["batch_size"] for job in jobs.values() for row in job["rows"]})


def _rows(jobs: dict[str, dict], batch_size: int):
    for mode, job in jobs.items():
        for row in job["rows"]:
            if row["batch_size"] == batch_size:
                yield mode, row


def latency_vs_load(sweep: list[dict], path: Path, title: str) -> Path:
    """Per row of the sweep, e2e p50 (solid) and p99 (dashed) and TTFT p50 (dotted) against the offered rate."""
    fig, (ax, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for n, row in enumerate(dict.fromkeys(p["row"] for p in sweep)):
        points = sorted((p for p in sweep if p["row"] == row), key=lambda p: p["offered_rate"])
        rate = [p["offered_rate"] for p in points]
        color = f"C{n}"
        ax.plot(rate, [p["e2e_p50_ms"] for p in points], "-o", color=color, label=f"{row} e2e p50")
        ax.plot(rate, [p["e2e_p99_ms"] for p in points], "--", color=color, label=f"{row} e2e p99")
        ax.plot(rate, [p["ttft_p50_ms"] for p in points], ":", color=color, label=f"{row} TTFT p50")
        right.plot(rate, [p["request_throughput"] for p in points], "-o", color=color, label=f"{row} completed")
        if any("goodput" in p for p in points):
            right.plot(rate, [p.get("goodput", np.nan) for p in points], ":", color=color, label=f"{row} goodput")
    top = max((p["offered_rate"] for p in sweep), default=1.0)
    right.plot([0, top], [0, top], color="lightgray", lw=1, label="offered")
    ax.set_xlabel("offered load (req/s, Poisson)")
    ax.set_ylabel("latency from scheduled send (ms)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    right.set_xlabel("offered load (req/s, Poisson)")
    right.set_ylabel("req/s")
    right.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
