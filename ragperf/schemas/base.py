"""Reading a saved file through its schema: one line for anything wrong, and finite numbers only.

:func:`load` reads a JSON file of a :class:`FileKind` and validates it with that kind's pydantic model. It
guarantees that a file it returns has every field the model requires, each of its type (strictly: a number
is a JSON number, never a string or ``true``), every number the model declares finite, and a schema version
this ragperf reads. Anything else raises :class:`~ragperf.errors.RagperfError` with one line that names the
file, the field and what to give - never a traceback. Fields a model does not declare are kept as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from ragperf.errors import RagperfError

# Far beyond any figure ragperf writes; past it, showing a number (x 100 as a percentage, x 1000 in ms) overflows
# to inf, so a finite number stays finite wherever it is shown.
LARGEST = 1e100
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-LARGEST, le=LARGEST)]
Positive = Annotated[float, Field(allow_inf_nan=False, gt=0, le=LARGEST)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0, le=LARGEST)]
Count = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(allow_inf_nan=False, ge=0, lt=1)]


def _registered(name: str):
    """A string that must be one of ``context[name]`` (the registry's names, given by the caller: the layer
    below the registries cannot import them); any string when the caller gives none."""
    def check(value: str, info: ValidationInfo) -> str:
        allowed = (info.context or {}).get(name)
        if allowed is not None and value not in allowed:
            raise ValueError(f"should be one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


MetricKind = Annotated[str, _registered("kinds")]  # a metric kind of ragperf.perf.metrics.KINDS
GateStatus = Annotated[str, _registered("statuses")]  # a gate status of ragperf.perf.metrics


class Saved(BaseModel):
    """An object of a saved file: types strict, unknown fields kept (a newer ragperf of the same schema version
    may add some), numbers declared :data:`Finite` (or narrower) refuse NaN and inf."""

    model_config = ConfigDict(strict=True, extra="allow")

    def data(self) -> dict:
        """The object as a plain dict of the fields the file held (defaults not filled in)."""
        return self.model_dump(exclude_unset=True)


@dataclass(frozen=True)
class FileKind:
    """What a kind of file is called, how to get a good one, and which schema versions this ragperf reads.

    ``schema``: the file's ``"schema"`` string (``None``: the kind has none). ``newest``: the newest version read,
    from ``"schema_version"`` or - ``suffixed`` - from the schema string's ``/N``. ``aliases``: older schema
    strings read as version ``oldest``."""

    what: str
    remedy: str
    schema: str | None = None
    oldest: int = 1
    newest: int = 1
    suffixed: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def a_what(self) -> str:
        return f"{'an' if self.what[0] in 'aeiou' else 'a'} {self.what}"

    def refuse(self, path: Path, problem: str) -> RagperfError:
        return RagperfError(f"{path} is not {self.a_what} this ragperf can use (malformed: {problem}); {self.remedy}")


M = TypeVar("M", bound=BaseModel)


def read_text(path: Path, kind: FileKind) -> str:
    """The file's text; a missing, unreadable or binary file is one line."""
    path = Path(path)
    if not path.exists() or path.is_dir():
        raise RagperfError(f"cannot read {kind.what} {path}: it {'is a folder' if path.is_dir() else 'does not exist'}"
                           f"; {kind.remedy}")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RagperfError(f"cannot read {kind.what} {path}: {exc.strerror}; {kind.remedy}") from None
    except UnicodeDecodeError:
        raise RagperfError(f"{path} is not {kind.a_what}: it is not text; {kind.remedy}") from None


def load(path: Path | str, model: type[M], kind: FileKind, context: dict | None = None) -> M:
    """``path`` read as ``kind`` and validated by ``model`` (see the module docstring)."""
    path = Path(path)
    text = read_text(path, kind)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "nested too deep"
        raise RagperfError(f"{path} is not {kind.a_what}: its text is not valid JSON ({detail}); "
                           f"{kind.remedy}") from None
    if not isinstance(data, dict):
        raise RagperfError(f"{path} is not {kind.a_what}: it holds no JSON object but {type(data).__name__}; "
                           f"{kind.remedy}")
    check_version(path, data, kind)
    try:
        return model.model_validate_json(text, context=context)
    except ValidationError as exc:
        raise kind.refuse(path, problem(exc)) from None


def validate(path: Path | str, data: Any, model: type[M], kind: FileKind, context: dict | None = None,
             strict: bool | None = None) -> M:
    """``data`` (already read from ``path``) validated by ``model``; one line when it is not valid."""
    try:
        return model.model_validate(data, context=context, strict=strict)
    except ValidationError as exc:
        raise kind.refuse(Path(path), problem(exc)) from None


def check_version(path: Path, data: dict, kind: FileKind) -> None:
    """Refuse another schema, and a version this ragperf does not read (a newer one: upgrade ragperf)."""
    if kind.schema is None:
        return
    found = data.get("schema")
    if kind.suffixed:
        match = re.fullmatch(re.escape(kind.schema) + r"/(\d+)", found) if isinstance(found, str) else None
        if found in kind.aliases:
            return
        if match is None:
            raise RagperfError(f"{path} is not {kind.a_what}: it has schema {found!r}, this ragperf reads "
                               f"{kind.schema!r}/{kind.newest}; {kind.remedy}")
        field, version = "schema", int(match.group(1))
    else:
        if found != kind.schema:
            raise RagperfError(f"{path} is not {kind.a_what}: it has schema {found!r}, not {kind.schema!r}; "
                               f"{kind.remedy}")
        field, version = "schema_version", data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise kind.refuse(path, f"schema_version {version!r}: give a whole number")
        found = version
    if version > kind.newest:
        raise RagperfError(f"{path} has {field} {found!r}: written by a newer ragperf (version {version}; this one "
                           f"reads up to {kind.newest}) - upgrade ragperf, or {kind.remedy}")
    if version < kind.oldest:
        raise RagperfError(f"{path} has {field} {found!r}: this ragperf reads versions {kind.oldest} to "
                           f"{kind.newest}; {kind.remedy}")


def where(loc: tuple) -> str:
    """A field's place as one reads it: ``metrics['a/speedup'].history[0].se``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_]\w*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "the top level"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def problem(error: ValidationError) -> str:
    """The first of ``error``'s problems in words: the field, what it holds, what to give; and how many more."""
    first = error.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    leaf = next((p for p in reversed(loc) if isinstance(p, str)), "value")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        text = f"missing {leaf} (field {where(loc)}): give it"
    elif first["type"] == "json_invalid":
        text = f"its text is not valid JSON ({message})"
    else:
        text = f"bad {leaf} {_shown(first.get('input'))} (field {where(loc)}): {message[0].lower()}{message[1:]}"
    more = error.error_count() - 1
    return text + (f"; {more} more problem{'s' * (more > 1)}" if more else "")
