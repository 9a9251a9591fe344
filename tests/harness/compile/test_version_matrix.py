"""The version matrix holds together: every tox version env has its constraints file, the README's default
pins (constraints.txt) are constraints/torch2.13.txt, and the default pins have an expected table of their own."""

import configparser
import re
from pathlib import Path

from ragperf.compile.expected import EXPECTED_DIR, table_name

REPO = Path(__file__).resolve().parents[3]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-c "):
            pins |= _pins(path.parent / line[3:].strip())
        elif "==" in line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def test_every_version_env_has_its_constraints_file():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    envs = [e.strip() for e in re.split(r"[,\n]", tox["tox"]["labels"].split("=", 1)[1]) if e.strip()]
    assert envs == ["torch2.12", "torch2.13", "torch2.14", "torch2.15", "transformers5.25", "latest"]
    for env in envs:
        assert (REPO / "constraints" / f"{env}.txt").exists(), env
    assert _pins(REPO / "constraints" / "latest.txt") == {}  # latest is unpinned


def test_the_default_pins_are_torch213_and_have_a_table_of_their_own():
    pins = _pins(REPO / "constraints.txt")
    assert pins == _pins(REPO / "constraints" / "torch2.13.txt") and set(pins) == {"torch", "transformers"}
    assert (REPO / EXPECTED_DIR / table_name(pins["torch"], pins["transformers"])).exists()
    for env in ("torch2.12", "torch2.14", "torch2.15"):
        assert _pins(REPO / "constraints" / f"{env}.txt")["torch"].startswith(env.removeprefix("torch") + ".")
    assert _pins(REPO / "constraints" / "transformers5.25.txt")["transformers"].startswith("5.25.")


def test_each_release_stack_has_a_table_of_its_own():
    """The newest stacks were recorded (ragperf expected --update), not left to an earlier table's judgement."""
    for env in ("torch2.15", "transformers5.25"):
        pins = _pins(REPO / "constraints" / f"{env}.txt")
        assert (REPO / EXPECTED_DIR / table_name(pins["torch"], pins["transformers"])).exists(), env
