"""``python -m ragperf.serve.worker PORT [FACTORY]``: uvicorn serving an app factory in ``workers`` processes.

Factories: :func:`create_app` (the RAG endpoint, the default) and :func:`create_generate_app` (the LLM
endpoint). The launcher passes the config (:class:`~ragperf.serve.retriever.ServeConfig` or
:class:`~ragperf.serve.generate.GenerateConfig`) in ``RAGPERF_SERVE_CONFIG`` (JSON) and a state folder in
``RAGPERF_SERVE_STATE``. Connections go through :class:`~ragperf.serve.http.BoundedH11Protocol` (a request
head must arrive within a bound). Each worker process loads, compiles and warms before
uvicorn lets it accept a connection, then writes ``<pid>.json`` there (its graphs and stats; rewritten on
every change of its stats), which is how the launcher knows that *every* worker is ready.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONFIG_ENV, STATE_ENV = "RAGPERF_SERVE_CONFIG", "RAGPERF_SERVE_STATE"


def create_app():
    """uvicorn's app factory, run once per worker process."""
    import torch

    from ragperf import knobs
    from ragperf.serve.app import build_app
    from ragperf.serve.http import BoundedH11Protocol
    from ragperf.serve.retriever import ServeConfig, load_retriever

    knobs.quiet_libraries()
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    BoundedH11Protocol.header_timeout_s = config.header_timeout_s
    state = Path(os.environ[STATE_ENV]) / f"{os.getpid()}.json"
    retriever = load_retriever(config)
    torch.compiler.set_stance("fail_on_recompile")  # from here on a recompile is an error, not a stall
    write = _state_writer(state, retriever.ready_graphs)
    write({"served": 0, "errors": 0, "recompiles": 0, "last_error": None})
    return build_app(retriever, on_change=write)


def create_generate_app():
    """uvicorn's app factory for the LLM endpoint, run once per worker process (loads, compiles, warms)."""
    from ragperf import knobs
    from ragperf.serve.generate import Engine, GenerateConfig, build_generate_app
    from ragperf.serve.http import BoundedH11Protocol

    knobs.quiet_libraries()
    config = GenerateConfig.from_json(os.environ[CONFIG_ENV])
    BoundedH11Protocol.header_timeout_s = config.header_timeout_s
    engine = Engine(config)
    write = _state_writer(Path(os.environ[STATE_ENV]) / f"{os.getpid()}.json", engine.ready_graphs)
    write({"served": 0, "errors": 0, "recompiles": 0, "active": 0, "stopped": 0, "last_error": None})
    return build_generate_app(engine, on_change=write)


def _state_writer(state: Path, graphs: int):
    """``write(stats)``: replace the worker's state file at once (readers never see half a file)."""

    def write(stats: dict) -> None:
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "graphs": graphs, **stats}), encoding="utf-8")
        tmp.replace(state)

    return write


def main() -> None:
    import uvicorn

    from ragperf.serve.http import BoundedH11Protocol

    workers = int(json.loads(os.environ[CONFIG_ENV])["workers"])
    port = int(sys.argv[1])
    factory = sys.argv[2] if len(sys.argv) > 2 else "ragperf.serve.worker:create_app"
    uvicorn.run(factory, factory=True, host="127.0.0.1", port=port, workers=workers, log_level="warning",
                access_log=False, timeout_graceful_shutdown=5, http=BoundedH11Protocol)


if __name__ == "__main__":
    main()
