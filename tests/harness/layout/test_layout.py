"""The package's layout holds: imports flow one way between subpackages, modules stay within a size a reader can
hold, and every module is listed in its package's map (the ``__init__`` docstring) so a newcomer can find it."""

import ast
import re
from pathlib import Path

import pytest

import ragperf

PACKAGE = Path(ragperf.__file__).parent
# Lower ranks never import higher ones; a subpackage imports only itself, the foundations (rank 0) and
# lower ranks. A new subpackage must be placed here before its imports are checked.
RANKS = {
    "errors": 0, "files": 0, "knobs": 0, "argtypes": 0, "subproc": 0, "interpreters": 0, "__init__": 0,
    "schemas": 0.5,  # every saved file's schema: used by every layer that reads one back, uses only errors
    "models": 1, "arm64": 1,
    "jobargs": 1.5,  # the shared job arguments: names models' variants, used by perf and jobs
    "compile": 2, "numerics": 2, "perf": 2, "rag": 2,
    "serve": 2.5,  # uses rag and perf, used by jobs
    "coldstart": 2.5,  # uses compile, numerics and perf, used by jobs
    "jobs": 3, "evidence": 3,
    "commands": 4, "plugin": 4, "cli": 4, "oom": 4,
}
# A module holds one concept and may be long when its concept is; past this it is more than one.
MAX_LINES = 500


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


PACKAGES = sorted([PACKAGE, *(p.parent for p in PACKAGE.glob("*/__init__.py"))])


def unmapped_modules(package: Path, root: Path = PACKAGE) -> list[str]:
    """Modules and subpackages directly inside ``package`` that its ``__init__`` docstring does not name as
    ``:mod:`ragperf.<...>.<name>```."""
    dotted = ".".join(package.relative_to(root.parent).parts)
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    listed = set(re.findall(rf":mod:`{re.escape(dotted)}\.(\w+)`", doc))
    members = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    members |= {p.parent.name for p in package.glob("*/__init__.py")}
    return sorted(members - listed)


@pytest.mark.parametrize("package", [pytest.param(p, id=p.name) for p in PACKAGES])
def test_every_module_is_in_its_package_map(package):
    missing = unmapped_modules(package)
    assert not missing, (f"{package.relative_to(PACKAGE.parent)}/__init__.py does not list {missing}: add a line "
                         f"`- :mod:`{'.'.join(package.relative_to(PACKAGE.parent).parts)}.NAME`  what it holds` each")


def test_the_map_check_sees_a_missing_module(tmp_path):
    package = tmp_path / "ragperf" / "demo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Demo.\n\n- :mod:`ragperf.demo.listed`  here\n"""\n')
    (package / "listed.py").write_text("")
    (package / "forgotten.py").write_text("")
    (package / "inner").mkdir()
    (package / "inner" / "__init__.py").write_text("")
    assert unmapped_modules(package, root=tmp_path / "ragperf") == ["forgotten", "inner"]
