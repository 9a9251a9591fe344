"""Parity tolerances: a table keyed by (device, dtype, fastmath lane), layered with the user's overrides.

Layers, later wins: the built-in table ``ragperf/data/tolerances.toml`` < ``[tool.ragperf.tolerance]``
of the project's pyproject.toml (fields for every key, or a sub-table per key such as
``[tool.ragperf.tolerance."cpu.float32.emulated"]``) < the ``ragperf_tolerance`` marker of one test
< explicit keyword arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
import torch

from ragperf.errors import RagperfError

TABLE_FILE = "tolerances.toml"


@dataclass(frozen=True)
class Tolerance:
    """The numbers one parity verdict is judged with (fields documented in ``data/tolerances.toml``)."""

    key: str
    tol: float
    k: float
    cosine_floor: float
    determinism_tol: float
    topk: int
    tie_gap: float

    @property
    def lane(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    def replace(self, **fields) -> Tolerance:
        _check_fields(fields, where="tolerance override")
        return dataclasses.replace(self, **{name: _number(name, value) for name, value in fields.items()})


FIELDS = tuple(f.name for f in dataclasses.fields(Tolerance) if f.name != "key")


def key_for(device: str | torch.device, dtype: torch.dtype | str, lane: str) -> str:
    dtype_name = str(dtype).removeprefix("torch.")
    return f"{torch.device(device).type}.{dtype_name}.{lane}"


def builtin_table() -> dict[str, dict]:
    text = resources.files("ragperf").joinpath("data", TABLE_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def project_overrides(pyproject: Path | None) -> dict:
    """``[tool.ragperf.tolerance]`` of ``pyproject`` ({} when absent or when there is no file)."""
    if pyproject is None or not Path(pyproject).is_file():
        return {}
    try:
        data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RagperfError(f"{pyproject}: not valid TOML ({exc}); fix it or remove [tool.ragperf.tolerance]") from None
    section = data.get("tool", {}).get("ragperf", {}).get("tolerance", {})
    if not isinstance(section, dict):
        raise RagperfError(f"{pyproject}: [tool.ragperf.tolerance] must be a table of {', '.join(FIELDS)}")
    return section


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: the working directory) upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def lookup(device: str | torch.device, dtype: torch.dtype | str, lane: str, *,
           pyproject: Path | None = None, marker: dict | None = None, **explicit) -> Tolerance:
    """The tolerance for (device, dtype, lane) after every override layer."""
    key = key_for(device, dtype, lane)
    table = builtin_table()
    overrides = project_overrides(pyproject)
    per_key = {name: value for name, value in overrides.items() if isinstance(value, dict)}
    everywhere = {name: value for name, value in overrides.items() if not isinstance(value, dict)}
    if key not in table and key not in per_key:
        raise RagperfError(f"no parity tolerance for {key!r} (known: {', '.join(table)}); add "
                           f'[tool.ragperf.tolerance."{key}"] with {", ".join(FIELDS)} to pyproject.toml')
    fields = dict(table.get(key, {}))
    for layer, where in ((everywhere, f"{pyproject} [tool.ragperf.tolerance]"),
                         (per_key.get(key, {}), f'{pyproject} [tool.ragperf.tolerance."{key}"]'),
                         (marker or {}, "@pytest.mark.ragperf_tolerance"), (explicit, "explicit tolerance")):
        _check_fields(layer, where)
        fields.update(layer)
    missing = [name for name in FIELDS if name not in fields]
    if missing:
        raise RagperfError(f'tolerance {key!r} lacks {", ".join(missing)}; set them in '
                           f'[tool.ragperf.tolerance."{key}"] of pyproject.toml')
    return Tolerance(key=key, **{name: _number(name, fields[name]) for name in FIELDS})


def _check_fields(fields: dict, where: str) -> None:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise RagperfError(f"{where}: unknown tolerance field(s) {', '.join(unknown)}; use {', '.join(FIELDS)}")


def _number(name: str, value) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RagperfError(f"tolerance field {name} must be a number, got {value!r}")
    if value < 0:
        raise RagperfError(f"tolerance field {name} must be >= 0, got {value!r}")
    return int(value) if name == "topk" else float(value)
