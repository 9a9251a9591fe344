"""The decode section's rate table: tok/s of each mode beside the reference's and the bandwidth roofline.

Rows exist for modes whose job measured ``tokens_per_s``; "% of reference" divides by the fastest
``reference-*`` mode at the same batch size (the plain-PyTorch Llama on the same weights, see
:mod:`ragperf.models.reference_llama`); the roofline columns are the bytes a step reads per second
against the datasheet peak and against the copy bandwidth measured on the device in the same job.
"""

from __future__ import annotations

REFERENCE_PREFIX = "reference-"


def reference_rates(jobs: dict) -> dict[int, tuple[str, float]]:
    """batch size -> (mode, tok/s) of the fastest reference mode measured."""
    best: dict[int, tuple[str, float]] = {}
    for mode, job in jobs.items():
        if not mode.startswith(REFERENCE_PREFIX) or "rows" not in job:
            continue
        for row in job["rows"]:
            rate = row.get("tokens_per_s")
            if rate and rate > best.get(row["batch_size"], ("", 0.0))[1]:
                best[row["batch_size"]] = (mode, rate)
    return best


def rate_table(jobs: dict) -> tuple[list[str], list[list[str]]] | None:
    """(headers, rows) for one decoder's jobs, or None when no job measured tok/s."""
    references = reference_rates(jobs)
    rows = []
    for mode, job in jobs.items():
        for row in job.get("rows", ()):
            rate = row.get("tokens_per_s")
            if not rate:
                continue
            ref = references.get(row["batch_size"])
            rows.append([mode, str(row["batch_size"]), f"{rate:.1f}",
                         f"{rate / ref[1]:.0%}" if ref else "", _percent(row.get("roofline_fraction")),
                         _percent(row.get("copy_fraction")), _graphs(row)])
    if not rows:
        return None
    return (["mode", "batch", "tok/s", "% of reference", "% of datasheet bandwidth", "% of measured copy bandwidth",
             "CUDA graphs (recorded / re-recorded warm)"], rows)


def _percent(value) -> str:
    return "" if value is None else f"{value:.0%}"


def _graphs(row: dict) -> str:
    if not row.get("cudagraph_recordings") and not row.get("warm_cudagraph_recordings"):
        return ""
    skips = row.get("cudagraph_skip_reasons") or []
    text = f"{row.get('cudagraph_recordings', 0)} / {row.get('warm_cudagraph_recordings', 0)}"
    return text + (f"; skipped: {skips[0]}" if skips else "")
