"""The RAG corpus: real documentation found on this machine, plus authored notes with known answers.

A :class:`Site` is a set of linked HTML pages held in memory, served by :mod:`ragperf.rag.server`
and crawled with LangChain's ``RecursiveUrlLoader`` as the seeds crawl a blog. Its pages are:

- ``/``                       an index linking every top-level page;
- ``/docs/<module>.html``     pydoc's HTML documentation of installed modules (the Python standard
                              library by default), rendered at run time, with each package's public
                              submodules one link further down, so a depth-3 crawl has real depth;
- ``/notes/<name>.html``      the authored notes shipped in ``ragperf/data/rag/notes`` that the
                              known-answer questions (``ragperf/data/rag/questions.json``) are about.

Links to pages outside the site (other modules, source files, the web) are removed, so the crawl is
bounded and never leaves loopback.
"""

from __future__ import annotations

import html
import importlib
import json
import pkgutil
import pydoc
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import PurePosixPath

from ragperf.errors import RagperfError

# Standard-library modules whose documentation forms the default crawled corpus (json is a package:
# its submodules json.decoder, json.encoder, ... sit one level deeper).
DEFAULT_DOC_MODULES = ("json", "textwrap", "heapq", "bisect")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)


@dataclass(frozen=True)
class Question:
    question: str
    answer: str  # a string found in exactly the chunk(s) that answer the question


@dataclass(frozen=True)
class KnownAnswers:
    questions: tuple[Question, ...]
    recall_floor: float


@dataclass
class Site:
    """Linked HTML pages by URL path (``/docs/json.html``), as the bytes the server sends."""

    pages: dict[str, bytes] = field(default_factory=dict)

    def add(self, path: str, body: str | bytes) -> None:
        self.pages[path] = body.encode("utf-8") if isinstance(body, str) else body


def build_site(doc_modules: tuple[str, ...] = DEFAULT_DOC_MODULES, notes: bool = True) -> Site:
    """The default corpus: pydoc pages of ``doc_modules`` (and their public submodules) plus the notes."""
    site = Site()
    top_links: list[tuple[str, str]] = []
    module_names = _with_submodules(doc_modules)
    for name in module_names:
        site.add(f"/docs/{name}.html", module_page(name, allowed=module_names))
    top_links += [(f"/docs/{name}.html", f"Module {name}") for name in doc_modules]
    if notes:
        for stem, text in _notes().items():
            title, body = _title_and_paragraphs(text)
            site.add(f"/notes/{stem}.html", _page(title, "".join(f"<p>{html.escape(p)}</p>\n\n" for p in body)))
            top_links.append((f"/notes/{stem}.html", title))
    items = "\n".join(f'<li><a href="{path}">{html.escape(text)}</a></li>' for path, text in top_links)
    site.add("/", _page("ragperf corpus", f"<ul>\n{items}\n</ul>"))
    return site


def module_page(name: str, allowed: tuple[str, ...]) -> str:
    """pydoc's HTML page for module ``name``, keeping only links to modules in ``allowed``."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise RagperfError(f"cannot document module {name!r} for the corpus: {exc}; "
                           "give modules that are installed") from None
    page = pydoc.html.page(pydoc.describe(module), pydoc.html.document(module, name))

    def keep_allowed(match: re.Match) -> str:
        target = match.group(1).split("#", 1)[0]
        if target.endswith(".html") and "/" not in target and target[: -len(".html")] in allowed:
            return match.group(0)
        return match.group(2)

    return _LINK.sub(keep_allowed, page)


def load_known_answers() -> KnownAnswers:
    """The authored questions and the recall@5 floor, from ``ragperf/data/rag/questions.json``."""
    data = json.loads(resources.files("ragperf").joinpath("data/rag/questions.json").read_text("utf-8"))
    questions = tuple(Question(q["question"], q["answer"]) for q in data["questions"])
    return KnownAnswers(questions, float(data["recall_floor"]))


def _notes() -> dict[str, str]:
    folder = resources.files("ragperf").joinpath("data/rag/notes")
    notes = {PurePosixPath(f.name).stem: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".txt")}
    if not notes:
        raise RagperfError("ragperf/data/rag/notes holds no .txt notes; reinstall ragperf")
    return dict(sorted(notes.items()))


def _with_submodules(names: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        out.append(name)
        module = importlib.import_module(name)
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if not info.name.startswith("_") and info.name != "tool":  # json.tool is a CLI, not docs
                out.append(f"{name}.{info.name}")
    return tuple(dict.fromkeys(out))


def _title_and_paragraphs(text: str) -> tuple[str, list[str]]:
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return paragraphs[0], paragraphs[1:]


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>\n"
            f"<body>\n<h1>{html.escape(title)}</h1>\n\n{body}\n</body></html>\n")
