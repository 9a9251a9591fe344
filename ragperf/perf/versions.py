"""Which software upgrade a perf gate judged: the versions its baseline runs were recorded with, next to
the measured run's. The gate matches baselines by hardware fingerprint only, so a run on a new torch is
gated against the old torch's figures - this names that upgrade instead of leaving it implicit."""

from __future__ import annotations

# fingerprint fields that name software, in the order they are printed
SOFTWARE = (("torch", "torch"), ("transformers", "transformers"), ("onednn", "oneDNN"), ("python", "Python"))


def describe(fp: dict) -> str:
    """``torch 2.13.0+cpu, transformers 5.23.0, oneDNN 3.12.0, Python 3.11.7`` (unknown fields left out)."""
    return ", ".join(f"{label} {fp[name]}" for name, label in SOFTWARE if fp.get(name)) or "versions not recorded"


def upgrade_line(baseline_fp: dict, measured_fp: dict) -> str:
    """One line: the baseline's versions, this run's, and what changed between them (or that nothing did)."""
    if not any(baseline_fp.get(name) for name, _ in SOFTWARE):
        return f"versions: baseline recorded without versions (published figures); this run {describe(measured_fp)}"
    changed = [f"{label} {baseline_fp.get(name) or '?'} -> {measured_fp.get(name) or '?'}"
               for name, label in SOFTWARE if baseline_fp.get(name) != measured_fp.get(name)]
    judged = f"upgrade judged: {', '.join(changed)}" if changed else "same versions: no software upgrade judged"
    return f"versions: baseline {describe(baseline_fp)}; this run {describe(measured_fp)} ({judged})"
