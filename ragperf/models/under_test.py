"""The models a test run judges: the specs an option names, the id each case carries, and which models a
suite's cases run on.

``--ragperf-embedder a,b`` (and ``--ragperf-decoder``) name one or more models (:func:`specs`). A test that can
judge any model runs on the project's own fast model of that kind (:data:`OWN`: the harness checks itself on
it) and on every model the option names (:func:`models`), each case's id naming its model (:func:`label`).
With the option at its default, the cases are exactly those of a run without the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.models.registry import DECODER, DEFAULT, EMBEDDER, named

OWN = {EMBEDDER: "tiny-bert", DECODER: "tiny-llama"}  # compiles in seconds: the default run's models
CALIBRATED = {EMBEDDER: "minilm"}  # absolute floors (the corpus's recall floor, bf16 error sizes) were set on it


def specs(value: str, kind: str) -> tuple[str, ...]:
    """The model specs of an option's ``value`` (comma-separated, duplicates dropped, order kept)."""
    found = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
    if not value.strip() or "" in found:
        raise RagperfError(f"--ragperf-{kind} {value!r} names an empty model; give one or more "
                           "comma-separated names or folders, e.g. tiny-bert,./my-model")
    return found


def is_default(given: Sequence[str], kind: str) -> bool:
    """The option was left at its default (the run's cases are those of a run without it)."""
    return tuple(given) == (DEFAULT[kind],)


def label(spec: str) -> str:
    """A case id naming the model: a registered name as is, a folder by its name, a hub id ``org/name`` as
    ``org--name``."""
    if named(spec) is not None:
        return spec
    path = Path(spec).expanduser()
    if path.is_dir() or spec.startswith((".", "~", "/")):
        return path.resolve().name or spec
    return spec.replace("/", "--")


def labels(chosen: Sequence[str]) -> list[str]:
    """:func:`label` of each spec, made unique (two folders of one name get ``-2``, ``-3``...)."""
    seen: dict[str, int] = {}
    out = []
    for spec in chosen:
        base = label(spec)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def models(given: Sequence[str], kind: str, own: bool = True) -> list[str]:
    """The models a suite's any-model cases run on: :data:`OWN` (unless ``own`` is False), then ``given``."""
    return list(dict.fromkeys([*([OWN[kind]] if own else []), *given]))


def calibrated(spec: str, kind: str = EMBEDDER) -> bool:
    """``spec`` is the model an absolute threshold of this project was calibrated on."""
    return spec == CALIBRATED.get(kind)


def not_calibrated_reason(spec: str, what: str, kind: str = EMBEDDER) -> str:
    """The skip reason of an absolute threshold on a model it was not calibrated on."""
    return (f"{what} is calibrated on {CALIBRATED[kind]}, not {label(spec)}; the invariants that hold for any "
            "model (compiled equals eager) are checked for it elsewhere")
