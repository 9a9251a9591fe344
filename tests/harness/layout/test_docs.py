"""The front page and the how-to pages stay free of lab-notebook residue: no path of the machine something was
measured on, no UTC time window, no commit hash, no tracker wording. Dated records belong in docs/results/."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

RULES = {
    "a machine path": re.compile(r"(?<![\w.])(?:/work/|/root/|/tmp/\w|/home/\w|/\S*\.venv/)"),
    "a UTC time": re.compile(r"\b\d{1,2}:\d{2}(?:\s*-\s*\d{1,2}:\d{2})?\s*UTC\b"),
    "a commit hash": re.compile(r"\b(?:commit|at)\s+`?(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"),
    "tracker wording": re.compile(r"\bthe issue\b|\bissue's\b|\bacceptance\b", re.IGNORECASE),
}


def residue(text: str) -> list[str]:
    """One 'line N: what (the match)' per rule a line breaks."""
    return [f"line {n}: {what} ({m.group(0)!r})" for n, line in enumerate(text.splitlines(), 1)
            for what, rule in RULES.items() for m in [rule.search(line)] if m]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_page_has_no_lab_notebook_residue(page):
    found = residue(page.read_text(encoding="utf-8"))
    assert not found, f"{page.relative_to(REPO)}: move dated records to docs/results/ or reword: {found}"


RECORDS = sorted(p for p in (REPO / "docs" / "results").rglob("*") if p.suffix in (".md", ".json"))


@pytest.mark.parametrize("record", RECORDS, ids=[str(p.relative_to(REPO)) for p in RECORDS])
def test_records_name_no_path_of_the_machine_they_were_measured_on(record):
    rule = RULES["a machine path"]
    found = [f"line {n}: {m.group(0)!r}" for n, line in enumerate(record.read_text(encoding="utf-8").splitlines(), 1)
             for m in [rule.search(line)] if m]
    assert not found, f"{record.relative_to(REPO)}: write VENV, OLD_VENV, NEW_VENV or CHECKOUT instead: {found}"


@pytest.mark.parametrize("planted", [
    "PYTHONPATH=/work/w15 ragperf drift", "cache in /root/.cache/ragperf", "written to /tmp/ragperf-out",
    "run with /opt/envs/.venv/bin/python", "Measured 17:23-18:08 UTC", "at 22:38 UTC", "Measured 17:23 - 18:08 UTC",
    "at ef8204a (the final code)", "commit `84500e2`", "at commit 84500e2", "the issue's table",
    "as the issue asks", "Against the acceptance",
])
def test_each_kind_of_residue_is_caught(planted):
    assert residue(f"clean line\n{planted}\n") != []


@pytest.mark.parametrize("clean", [
    "`VmHWM` of `/proc/self/status`", "run `.venv/bin/pytest -n auto`", "at 10 ms a call", "at 1.5x",
    "a `TORCHINDUCTOR_CACHE_DIR` under the temp dir", "at least 9 of 10", "an issue with the cache",
    "ragperf-out/ladder.png", "at deadbeef speed",
])
def test_ordinary_prose_is_not_flagged(clean):
    assert residue(clean) == []


LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    heads = re.findall(r"^#+\s+(.*)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file, or heading anchor, does not exist."""
    broken = []
    for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}#{anchor} (no such heading)")
    return broken


ALL_PAGES = [*PAGES, *sorted((REPO / "docs" / "results").glob("*.md")), REPO / "tests" / "README.md"]


@pytest.mark.parametrize("page", ALL_PAGES, ids=[str(p.relative_to(REPO)) for p in ALL_PAGES])
def test_every_relative_link_resolves(page):
    assert not broken_links(page), f"{page.relative_to(REPO)}: {broken_links(page)}"


def test_a_broken_link_is_seen(tmp_path):
    (tmp_path / "there.md").write_text("# A heading, here\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading-here) [gone](missing.md) [bad](there.md#nowhere) [web](https://x.y)\n")
    assert broken_links(page) == ["missing.md (no such file)", "there.md#nowhere (no such heading)"]


def test_the_readme_headline_table_is_the_rendering_of_its_figures(tmp_path):
    render = _render_results()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    figures = json.loads(render.HEADLINE.read_text(encoding="utf-8"))
    assert render.with_table(readme, render.headline_table(figures)) == readme, \
        "README.md's headline table differs from docs/results/headline.json: run python scripts/render_results.py"
    figures["rows"][0]["figure"] += " (changed)"
    assert render.with_table(readme, render.headline_table(figures)) != readme
    with pytest.raises(ValueError, match="lacks the markers"):
        render.with_table(readme.replace(render.END, ""), "table")


def _render_results():
    spec = importlib.util.spec_from_file_location("render_results", REPO / "scripts" / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
