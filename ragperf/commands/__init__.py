"""Subcommands of the ``ragperf`` command, one module each with ``register()`` and ``run()`` (see :mod:`ragperf.cli`).

- :mod:`ragperf.commands.run`         ``ragperf run``: the seeds' tables on this machine (the sections of :mod:`ragperf.jobs`)
- :mod:`ragperf.commands.coldstart`   ``ragperf coldstart``: a fresh process's first call, by start path
- :mod:`ragperf.commands.serve`       ``ragperf serve``: an embedder behind the RAG endpoint under load
- :mod:`ragperf.commands.recompiles`  ``ragperf recompiles``: the compile probe for any embedder and shape schedule
- :mod:`ragperf.commands.expected`    ``ragperf expected``: the recompile scenarios against the committed table
- :mod:`ragperf.commands.parity`      ``ragperf parity``: the fp64-anchored verdict for one model and variant
- :mod:`ragperf.commands.drift`       ``ragperf drift``: what changes between two environments
- :mod:`ragperf.commands.env`         ``ragperf env``: the hardware fingerprint and its baseline key
- :mod:`ragperf.commands.baseline`    ``ragperf baseline``: record, compare, show, summarize, merge, prove the gate
- :mod:`ragperf.commands.arm64`       ``ragperf arm64``: build the Graviton3 lane, run pytest inside it
- :mod:`ragperf.commands.repro`       ``ragperf repro``: re-run a failed test's repro bundle
"""
