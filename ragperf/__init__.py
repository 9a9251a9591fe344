"""ragperf: keeps torch.compile honest for RAG and LLM inference.

The library, one subpackage per concern; imports flow one way (commands/plugin -> jobs ->
perf/numerics/compile/rag -> models -> torch), and every layer may use the foundations
:mod:`ragperf.errors`, :mod:`ragperf.knobs` and :mod:`ragperf.subproc`.

- :mod:`ragperf.models`    where models come from and how they are made compilable: sources, tiny
                           models, embedders, decoders, the ladder, the generation loop, the clock
- :mod:`ragperf.compile`   does it compile the way we think? probe, dynamic-shape strategies,
                           recompile scenarios, expected tables
- :mod:`ragperf.numerics`  is compiled still right? fp64-anchored verdicts, tolerances, fastmath
                           lanes, parity runs
- :mod:`ragperf.perf`      is it still fast? interleaved timing, hardware fingerprint, baselines,
                           the gate, gated cases, roofline, the pytest perf plugin
- :mod:`ragperf.rag`       the seeds' RAG flow: corpus on loopback, LangChain, FAISS
- :mod:`ragperf.coldstart` how fast a fresh process serves its first call: carried caches, AOTInductor
                           packages, compiling ahead for the sizes served
- :mod:`ragperf.jobs`      the ``ragperf run`` sections that run in child processes, the report, plots;
                           the one child-process entry ``python -m ragperf.jobs NAME``
- :mod:`ragperf.arm64`     the Graviton3 lane under QEMU
- :mod:`ragperf.commands`  the ``ragperf`` subcommands; :mod:`ragperf.cli` dispatches to them
- :mod:`ragperf.plugin`    the pytest plugin (entry point ``pytest11``): thin fixtures over the above
- :mod:`ragperf.evidence`  a red test's evidence: compile trace, tlparse report, repro bundle, minified repro
- :mod:`ragperf.serve`     the TorchServe seed: the RAG retriever behind an ASGI endpoint under load
- :mod:`ragperf.cli`       the ``ragperf`` command's entry point
- :mod:`ragperf.oom`       a GPU out-of-memory in a test as one line, the run going on
- :mod:`ragperf.schemas`   every saved file ragperf reads back, one typed schema per kind: one line for a bad one
- foundations: :mod:`ragperf.errors`, :mod:`ragperf.knobs`, :mod:`ragperf.subproc`, :mod:`ragperf.files`
  (atomic writes), :mod:`ragperf.argtypes` (validated option values), :mod:`ragperf.jobargs` (the arguments
  child jobs share, validated once), :mod:`ragperf.interpreters` (another environment's python)
"""

__version__ = "0.1.0"
