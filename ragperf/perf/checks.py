"""Checks of a perf :class:`~ragperf.perf.cases.Case` made before anything is measured: a bad model, variant,
mode or backend is one :class:`RagperfError` line here, not a child process's traceback later."""

from __future__ import annotations

from ragperf.argtypes import BACKENDS
from ragperf.errors import RagperfError


def check_case(case):
    """Return ``case`` when every part of it names something that exists; else raise one line."""
    if case.backend not in BACKENDS:
        raise RagperfError(f"case {case.prefix}: unknown backend {case.backend!r}; choose from {', '.join(BACKENDS)}")
    if case.kind == "embed":
        from ragperf.models.ladder import variant
        from ragperf.models.registry import resolve_embedder

        chosen = variant(case.variant)
        if case.backend != "inductor" and (chosen.freezing or chosen.mode):
            raise RagperfError(f"variant {case.variant!r} needs backend 'inductor' (got backend {case.backend!r})")
        resolve_embedder(case.model)
        return case
    from ragperf.models.decode_modes import names
    from ragperf.models.registry import resolve_decoder

    resolve_decoder(case.model)
    if case.variant not in names("paper", "static"):
        raise RagperfError(f"unknown decode mode {case.variant!r}; choose from {', '.join(names('paper', 'static'))}")
    return case
