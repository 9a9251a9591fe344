"""The pytest plugin (entry point ``pytest11``): markers, options and thin fixtures over the library.

Fixtures
--------
``ragperf_device``      torch.device picked by ``--ragperf-device``
``embedder_spec``       the spec of the embedder under test: ``--ragperf-embedder``'s model; with several models,
                        or one that is not the default, it parametrizes the test (ids name the model)
``embedder``            the :class:`~ragperf.models.embedders.Embedder` of ``embedder_spec`` (session)
``load_embedder``       ``load_embedder(spec)`` -> Embedder, cached for the session (e.g. ``"tiny-bert"``)
``ladder_variant``      each ladder variant name chosen by ``--ragperf-variants`` (parametrizes the test)
``embedder_variant``    the :class:`~ragperf.models.ladder.LadderModel` of ``embedder`` for ``ladder_variant``
``eager_embedder``      the ``eager`` rung of ``embedder``
``decoder_spec``        the same for ``--ragperf-decoder``
``judged_embedder_spec`` tiny-bert alone with the option at its default; else tiny-bert, then each model the
                        option names (parametrizes the test, ids naming the model); ``judged_decoder_spec``:
                        the same with tiny-llama and ``--ragperf-decoder``
``decoder``             the :class:`~ragperf.models.decoders.Decoder` of ``decoder_spec`` (session)
``decode_mode``         each paper-family decode mode of :mod:`ragperf.models.decode_modes` (parametrizes the test)
``generator``           ``build_generator(decoder, decode_mode)``
``ragperf_decode_sizes``  the batch sizes of ``--ragperf-decode-sizes`` (compiled ahead, :mod:`ragperf.coldstart.sizes`)
``compile_probe``       :class:`~ragperf.compile.probe.CompileProbe`: ``with compile_probe() as p: ...; p.report``
``expected_compile``    the expected-behaviour table, or the nearest earlier (:mod:`ragperf.compile.plugin`); ``.verify(key, report)``

:func:`models_given` is what a test module reads to run its any-model cases on the models the options
name (:mod:`ragperf.models.under_test`).

Every test starts from fresh compiler state (``torch.compiler.reset()`` and cleared Dynamo counters).
"""

from __future__ import annotations

import pytest

from ragperf import knobs
from ragperf.errors import RagperfError

# The perf gate, failure evidence, expected tables and GPU out-of-memory report live in their own modules.
pytest_plugins = ["ragperf.perf.plugin", "ragperf.perf.alone", "ragperf.evidence.plugin", "ragperf.compile.plugin", "ragperf.oom"]

MARKERS = {
    "correctness": "numerical parity of compiled vs eager, judged against a higher-precision reference",
    "recompile": "graph, recompile and guard expectations under dynamic-shape strategies",
    "perf": "pytest-benchmark timings gated against stored baselines (run with -m perf)",
    "gpu": "needs an NVIDIA GPU; skipped with the reason elsewhere",
    "slow": "takes minutes on a 2-core machine; not in the default run",
    "coldstart": "first calls of fresh processes per start path, gated against stored baselines (run with "
                 "-m coldstart; tens of minutes on a 2-core machine)",
    "arm64": "runs only inside the arm64 (QEMU, Graviton3 identity) lane; not in the default run",
    "ragperf_tolerance": "ragperf_tolerance(tol=, k=, cosine_floor=, determinism_tol=, topk=, tie_gap=): "
                         "this test's parity tolerance overrides (see ragperf/data/tolerances.toml)",
}
DEVICES = ("cpu", "cuda")


def pytest_addoption(parser: pytest.Parser) -> None:
    from ragperf.models import registry

    group = parser.getgroup("ragperf", "ragperf: torch.compile regression harness")
    for kind in registry.KINDS:
        default = registry.DEFAULT[kind]
        group.addoption(f"--ragperf-{kind}", default=default, metavar=registry.metavar(kind),
                        help=registry.option_help(kind, default, subject=f"{kind} under test"))
    group.addoption("--ragperf-device", default="cpu", choices=DEVICES,
                    help="device for models (default: cpu); cuda where torch sees no GPU is a usage error")
    group.addoption("--ragperf-skip-missing-device", action="store_true",
                    help="--ragperf-device cuda where torch sees no GPU skips every test instead (mixed fleets)")
    group.addoption("--ragperf-variants", default=None, metavar="V1,V2",
                    help="ladder variants to parametrize over (default: all)")
    group.addoption("--ragperf-update-expected", action="store_true",
                    help="write measured compile counts into baselines/expected/ instead of failing on differences")
    group.addoption("--ragperf-decode-sizes", default=SIZE_OPTIONS["--ragperf-decode-sizes"], metavar="1,2,4,8",
                    help="decode batch sizes compiled and captured ahead of timing (default: 1)")
    group.addoption("--ragperf-backend", default="inductor", choices=("inductor", "aot_eager", "eager"),
                    help="torch.compile backend for compiled fixtures (default: inductor)")
    group.addoption("--ragperf-compile-sizes", default=SIZE_OPTIONS["--ragperf-compile-sizes"], metavar="1,2,4,8,16",
                    help="batch sizes to compile ahead for (compile_sizes fixture; default 1,2,4,8,16)")


def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    if hasattr(config, "workerinput"):  # an xdist worker: share the cores with the other workers
        from ragperf.knobs import share_threads_among

        share_threads_among(int(config.workerinput["workercount"]))
    for option in SIZE_OPTIONS:
        sizes_option(config, option)
    variants = config.getoption("--ragperf-variants", default=None)
    if variants is not None:  # an empty list is refused, not read as every variant
        from ragperf.models.ladder import variant

        try:
            [variant(v) for v in variants.split(",")]
        except RagperfError as exc:
            raise pytest.UsageError(f"--ragperf-variants: {exc}") from None
    _check_models(config)
    _check_device(config)
    try:
        knobs.check_environment()
    except RagperfError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_device(config: pytest.Config) -> None:
    """``--ragperf-device cuda`` where torch sees no GPU: a usage error - a GPU runner that lost its GPU must not
    pass its gate by skipping every test - unless ``--ragperf-skip-missing-device`` asks for the skip."""
    if config.getoption("--ragperf-device", default="cpu") != "cuda" or \
            config.getoption("--ragperf-skip-missing-device", default=False):
        return
    import torch

    if not torch.cuda.is_available():
        raise pytest.UsageError(f"--ragperf-device cuda: torch.cuda.is_available() is False here (torch "
                                f"{torch.__version__}); run on a GPU machine with a CUDA build of torch, or add "
                                "--ragperf-skip-missing-device to skip every test instead")


SIZE_OPTIONS = {"--ragperf-decode-sizes": "1", "--ragperf-compile-sizes": "1,2,4,8,16"}  # option -> default


def sizes_option(config: pytest.Config, option: str) -> tuple[int, ...]:
    """The batch sizes given to ``option`` (one of :data:`SIZE_OPTIONS`); a usage error naming it otherwise."""
    from ragperf.coldstart.sizes import parse_sizes

    try:
        return parse_sizes(config.getoption(option, default=SIZE_OPTIONS[option]),
                           option.removeprefix("--ragperf-").replace("-", " "))
    except RagperfError as exc:
        raise pytest.UsageError(f"{option}: {exc}") from None


def models_given(config: pytest.Config, kind: str) -> tuple[str, ...]:
    """The model specs ``--ragperf-<kind>`` names (one or more, comma-separated)."""
    from ragperf.models import under_test

    try:
        return under_test.specs(config.getoption(f"--ragperf-{kind}"), kind)
    except RagperfError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_models(config: pytest.Config) -> None:
    """A bad --ragperf-embedder/--ragperf-decoder (unknown, or a model of the other kind) is one usage error
    at start-up, not an error in every fixture."""
    from ragperf.models import registry

    try:
        for spec in models_given(config, registry.EMBEDDER):
            if spec != registry.DEFAULT[registry.EMBEDDER]:  # the default is checked where it is loaded (it needs its package)
                registry.resolve_embedder(spec)
        for spec in models_given(config, registry.DECODER):
            registry.resolve_decoder(spec)
    except RagperfError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") or item.config.getoption("--ragperf-device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs an NVIDIA GPU: torch.cuda.is_available() is False on this machine "
                        f"(torch {torch.__version__})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from ragperf.models import decode_modes
    from ragperf.models.ladder import variants_for

    if "ladder_variant" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--ragperf-variants")
        device = metafunc.config.getoption("--ragperf-device")
        metafunc.parametrize("ladder_variant", chosen.split(",") if chosen else variants_for(device))
    if "decode_mode" in metafunc.fixturenames:
        metafunc.parametrize("decode_mode", decode_modes.names("paper"))
    _parametrize_models(metafunc)


def _parametrize_models(metafunc: pytest.Metafunc) -> None:
    """``<kind>_spec``: one case per model the option names; ``judged_<kind>_spec``: the project's own tiny
    model, then those. Neither is a parameter when the option is at its default (the ids of a run without it)."""
    from ragperf.models import registry, under_test

    for kind in registry.KINDS:
        given = models_given(metafunc.config, kind)
        if under_test.is_default(given, kind):
            continue
        for argname, chosen in ((f"{kind}_spec", list(given)), (f"judged_{kind}_spec", under_test.models(given, kind))):
            if argname in metafunc.fixturenames:
                metafunc.parametrize(argname, chosen, ids=under_test.labels(chosen), scope="session")


def _usage(exc: RagperfError) -> pytest.UsageError:
    return pytest.UsageError(str(exc))


@pytest.fixture(autouse=True)
def _ragperf_fresh_compiler_state():
    import torch
    from torch._dynamo.utils import counters

    torch.compiler.reset()
    counters.clear()
    yield


@pytest.fixture(scope="session")
def ragperf_device(pytestconfig: pytest.Config):
    import torch

    return torch.device(pytestconfig.getoption("--ragperf-device"))


@pytest.fixture(scope="session")
def load_embedder(ragperf_device):
    from ragperf.evidence.weights import note_loaded
    from ragperf.models import embedders

    loaded: dict[str, embedders.Embedder] = {}

    def load(spec: str) -> embedders.Embedder:
        note_loaded(spec)  # for --ragperf-bundle-weights
        if spec not in loaded:
            try:
                loaded[spec] = embedders.load_embedder(spec, device=ragperf_device)
            except RagperfError as exc:
                raise _usage(exc) from None
        return loaded[spec]

    return load


@pytest.fixture(scope="session")
def embedder_spec(pytestconfig: pytest.Config) -> str:
    return models_given(pytestconfig, "embedder")[0]  # parametrized instead when the option is not the default


@pytest.fixture(scope="session")
def judged_embedder_spec() -> str:
    from ragperf.models.under_test import OWN

    return OWN["embedder"]  # parametrized instead when --ragperf-embedder is not the default


@pytest.fixture(scope="session")
def judged_decoder_spec() -> str:
    from ragperf.models.under_test import OWN

    return OWN["decoder"]  # parametrized instead when --ragperf-decoder is not the default


@pytest.fixture(scope="session")
def embedder(load_embedder, embedder_spec: str):
    return load_embedder(embedder_spec)


@pytest.fixture
def embedder_variant(embedder, ladder_variant: str, pytestconfig: pytest.Config):
    from ragperf.models.ladder import build_variant

    return build_variant(embedder, ladder_variant, backend=pytestconfig.getoption("--ragperf-backend"))


@pytest.fixture
def eager_embedder(embedder):
    from ragperf.models.ladder import build_variant

    return build_variant(embedder, "eager")


@pytest.fixture
def parity_tolerance(request: pytest.FixtureRequest):
    """``parity_tolerance(device, dtype, lane)`` -> Tolerance: the built-in table, then the project's
    ``[tool.ragperf.tolerance]`` in pyproject.toml, then this test's ``ragperf_tolerance`` marker."""
    from ragperf.numerics import tolerances

    marker = request.node.get_closest_marker("ragperf_tolerance")
    pyproject = request.config.rootpath / "pyproject.toml"

    def lookup(device, dtype, lane: str) -> tolerances.Tolerance:
        try:
            return tolerances.lookup(device, dtype, lane, pyproject=pyproject, marker=marker.kwargs if marker else None)
        except RagperfError as exc:
            raise _usage(exc) from None

    return lookup


@pytest.fixture(scope="session")
def decoder_spec(pytestconfig: pytest.Config) -> str:
    return models_given(pytestconfig, "decoder")[0]  # parametrized instead when the option is not the default


@pytest.fixture(scope="session")
def decoder(decoder_spec: str, ragperf_device):
    from ragperf.models.decoders import load_decoder

    try:
        return load_decoder(decoder_spec, device=ragperf_device)
    except RagperfError as exc:
        raise _usage(exc) from None


@pytest.fixture(scope="session")
def ragperf_decode_sizes(pytestconfig: pytest.Config) -> tuple[int, ...]:
    return sizes_option(pytestconfig, "--ragperf-decode-sizes")


@pytest.fixture
def generator(decoder, decode_mode: str, pytestconfig: pytest.Config):
    from ragperf.models.generation import build_generator

    return build_generator(decoder, decode_mode, backend=pytestconfig.getoption("--ragperf-backend"))


@pytest.fixture
def compile_probe():
    """``with compile_probe() as probe: ...`` then ``probe.report`` (see :mod:`ragperf.compile.probe`)."""
    from ragperf.compile.probe import CompileProbe

    return CompileProbe


@pytest.fixture(scope="session")
def compile_sizes(pytestconfig: pytest.Config) -> tuple[int, ...]:
    """The batch sizes of ``--ragperf-compile-sizes`` (see :mod:`ragperf.coldstart.sizes`)."""
    return sizes_option(pytestconfig, "--ragperf-compile-sizes")
