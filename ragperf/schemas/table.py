"""A row of an expected-behaviour CSV table (``baselines/expected/*.csv``, :mod:`ragperf.compile.expected`, and
the cold-start table of :mod:`ragperf.coldstart.bypass`): every key cell non-empty text, every count a
non-negative whole number, no cell missing and none beyond the header."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from ragperf.schemas.base import Count, problem, where

Cell = Annotated[str, Field(min_length=1)]
KEYS = TypeAdapter(dict[str, Cell])
COUNTS = TypeAdapter(dict[str, Count])


def row(cells: dict, key_fields: tuple[str, ...], count_fields: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, int]]:
    """(key, counts) of one ``csv.DictReader`` row; ``ValueError`` saying which cell is wrong and why."""
    if None in cells:
        raise ValueError(f"{len(cells[None])} cell(s) beyond the header's {len(key_fields + count_fields)}")
    try:
        key = KEYS.validate_python({k: cells[k] for k in key_fields}, strict=True)
        counts = COUNTS.validate_python({f: cells[f] for f in count_fields}, strict=False)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] in ("int_parsing", "int_type", "int_from_float", "greater_than_equal"):
            raise ValueError(f"counts must be integers of 0 or more: {problem(exc)}") from None
        raise ValueError(f"column {where(tuple(error['loc']))}: {problem(exc)}") from None
    return tuple(key[k] for k in key_fields), counts
