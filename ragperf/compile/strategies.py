"""Dynamic-shape strategies: how a compiled model is told which sizes may change.

=========================  ======================================================================
``auto``                   ``dynamic=None``: static first, automatic dynamic after a size changes
``dynamic``                ``dynamic=True`` (alias ``dynamic=True``): every size symbolic from the start
``mark_dynamic``           ``torch._dynamo.mark_dynamic`` on batch and sequence dims of every input
``maybe_mark_dynamic``     ``torch._dynamo.maybe_mark_dynamic`` on the same dims (no error if specialized)
``mark_unbacked``          the blog's recipe: ``mark_unbacked`` on batch, ``mark_dynamic`` on sequence
``backed_size_oblivious``  ``mark_dynamic`` + ``torch.fx.experimental._config.backed_size_oblivious``
=========================  ======================================================================

A strategy acts in three places: the ``torch.compile`` kwargs (:meth:`Strategy.compile_kwargs`),
the input tensors of each call (:meth:`Strategy.prepare`, marks in place) and a context around each
call (:meth:`Strategy.call_context`, config patches Dynamo reads while tracing). A strategy this
torch lacks raises :class:`StrategyUnavailable` naming the torch version; tests skip on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ragperf.errors import RagperfError

SEQUENCE_DIMS = (0, 1)  # batch, sequence


class StrategyUnavailable(RagperfError):
    """The strategy exists in ragperf but not in the installed torch."""


@dataclass(frozen=True)
class Strategy:
    name: str
    dynamic: bool | None = None
    mark: str | None = None  # mark_dynamic | maybe_mark_dynamic | mark_unbacked
    size_oblivious: bool = False

    def missing(self) -> str | None:
        """Why this torch cannot run the strategy, or None."""
        needs = []
        if self.mark == "maybe_mark_dynamic" and not hasattr(torch._dynamo, "maybe_mark_dynamic"):
            needs.append("torch._dynamo.maybe_mark_dynamic")
        if self.mark == "mark_unbacked" and not hasattr(torch._dynamo.decorators, "mark_unbacked"):
            needs.append("torch._dynamo.decorators.mark_unbacked")
        if self.size_oblivious and not hasattr(_fx_config(), "backed_size_oblivious"):
            needs.append("torch.fx.experimental._config.backed_size_oblivious")
        if not needs:
            return None
        return f"strategy {self.name!r} needs {', '.join(needs)}, which torch {torch.__version__} does not have"

    def require(self) -> Strategy:
        reason = self.missing()
        if reason:
            raise StrategyUnavailable(reason)
        return self

    def compile_kwargs(self) -> dict[str, object]:
        return {"dynamic": self.dynamic}

    def prepare(self, inputs: Mapping[str, torch.Tensor], dims: tuple[int, ...] = SEQUENCE_DIMS) -> None:
        """Mark the ``dims`` of every tensor in ``inputs`` (in place; a no-op for compile-kwarg strategies)."""
        if self.mark is None:
            return
        self.require()
        for tensor in inputs.values():
            if not isinstance(tensor, torch.Tensor):
                continue
            for dim in dims:
                if dim >= tensor.dim():
                    continue
                if self.mark == "mark_unbacked" and dim == 0:
                    torch._dynamo.decorators.mark_unbacked(tensor, dim)
                elif self.mark == "maybe_mark_dynamic":
                    torch._dynamo.maybe_mark_dynamic(tensor, dim)
                else:
                    torch._dynamo.mark_dynamic(tensor, dim)

    def call_context(self) -> contextlib.AbstractContextManager:
        if not self.size_oblivious:
            return contextlib.nullcontext()
        self.require()
        return _fx_config().patch(backed_size_oblivious=True)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("auto"),
    Strategy("dynamic", dynamic=True),
    Strategy("mark_dynamic", mark="mark_dynamic"),
    Strategy("maybe_mark_dynamic", mark="maybe_mark_dynamic"),
    Strategy("mark_unbacked", mark="mark_unbacked"),
    Strategy("backed_size_oblivious", mark="mark_dynamic", size_oblivious=True),
)}
_ALIASES = {"dynamic=True": "dynamic", "dynamic=None": "auto", "none": "auto"}


def strategy(name: str) -> Strategy:
    """The strategy called ``name`` (or an alias such as ``dynamic=True``); it may still be :meth:`missing`."""
    key = _ALIASES.get(name, name)
    try:
        return STRATEGIES[key]
    except KeyError:
        raise RagperfError(f"unknown dynamic-shape strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None


def _fx_config():
    import torch.fx.experimental._config as fx_config

    return fx_config
