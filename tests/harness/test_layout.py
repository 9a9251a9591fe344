"""The package's layout holds: imports flow one way between subpackages, and modules stay small."""

import ast
from pathlib import Path

import ragperf

PACKAGE = Path(ragperf.__file__).parent
# Lower ranks never import higher ones; a subpackage imports only itself, the foundations (rank 0) and
# lower ranks. A new subpackage must be placed here before its imports are checked.
RANKS = {
    "errors": 0, "files": 0, "knobs": 0, "argtypes": 0, "subproc": 0, "interpreters": 0, "__init__": 0,
    "models": 1, "arm64": 1,
    "jobargs": 1.5,  # the shared job arguments: names models' variants, used by perf and jobs
    "compile": 2, "numerics": 2, "perf": 2, "rag": 2,
    "serve": 2.5,  # uses rag and perf, used by jobs
    "coldstart": 2.5,  # uses compile, numerics and perf, used by jobs
    "jobs": 3, "evidence": 3,
    "commands": 4, "plugin": 4, "cli": 4, "oom": 4,
}
MAX_LINES = 300


def _unit(path: Path) -> str:
    """The top-level name a module belongs to: its subpackage, or itself when it sits at the top."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ragperf":
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "ragperf" else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "ragperf"]
        for name in names:
            parts = name.split(".")
            units.add("__init__" if len(parts) == 1 or parts[1] == "__version__" else parts[1])
    return units


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_imports_flow_one_way():
    wrong = []
    for path in MODULES:
        unit = _unit(path)
        if unit not in RANKS:
            wrong.append(f"{unit} has no rank: place it in RANKS of {__file__}")
            continue
        upward = {u: RANKS.get(u) for u in _imported_units(path) - {unit}
                  if u not in RANKS or (RANKS[u] > 0 and RANKS[u] >= RANKS[unit])}
        if upward:
            wrong.append(f"{path.relative_to(PACKAGE)} ({unit}, rank {RANKS[unit]}) imports upward or sideways: {upward}")
    assert not wrong, "\n".join(wrong)


def test_modules_stay_small():
    long = [f"{p.relative_to(PACKAGE)} has {n} lines" for p in MODULES if _unit(p) != "commands"
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > MAX_LINES]
    assert not long, f"over {MAX_LINES} lines, split by concept: {long}"
