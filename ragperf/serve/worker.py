"""``python -m ragperf.serve.worker``: uvicorn serving :func:`create_app` in ``workers`` processes on loopback.

The launcher passes the :class:`~ragperf.serve.retriever.ServeConfig` in ``RAGPERF_SERVE_CONFIG`` (JSON)
and a state folder in ``RAGPERF_SERVE_STATE``. Each worker process loads, compiles and warms before
uvicorn lets it accept a connection, then writes ``<pid>.json`` there (its graphs and stats; rewritten on
every error or recompile), which is how the launcher knows that *every* worker is ready.
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
    from ragperf.serve.retriever import ServeConfig, load_retriever

    knobs.quiet_libraries()
    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    state = Path(os.environ[STATE_ENV]) / f"{os.getpid()}.json"
    retriever = load_retriever(config)
    torch.compiler.set_stance("fail_on_recompile")  # from here on a recompile is an error, not a stall

    def write(stats: dict) -> None:
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "graphs": retriever.ready_graphs, **stats}), encoding="utf-8")
        tmp.replace(state)

    write({"served": 0, "errors": 0, "recompiles": 0, "last_error": None})
    return build_app(retriever, on_change=write)


def main() -> None:
    import uvicorn

    from ragperf.serve.retriever import ServeConfig

    config = ServeConfig.from_json(os.environ[CONFIG_ENV])
    port = int(sys.argv[1])
    uvicorn.run("ragperf.serve.worker:create_app", factory=True, host="127.0.0.1", port=port,
                workers=config.workers, log_level="warning", access_log=False, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
