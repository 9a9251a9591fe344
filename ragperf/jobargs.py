"""The arguments child jobs share, declared once and validated once.

Every child job (``python -m ragperf.jobs NAME ...``, :mod:`ragperf.jobs.child`) reads its command line
through :func:`add`: the model, its variant, the device, the backend, the dtype, the counts (rounds, new
tokens, prompt length, seed, repeats), a planted slowdown and progress reporting mean the same thing and
are checked the same way in every job. A job picks the shared arguments it takes and its defaults; it
declares only what is its own beside them.

Guarantees: a bad value is refused while the command line is read - before a model loads or anything is
measured - with one line on stderr that names the option and says what to give instead, exit 2
(:class:`ragperf.argtypes.OneLineParser`). ``--device cuda`` where this torch sees no GPU is such a line. Every count has
stated bounds, in that line and in ``--help``.
"""

from __future__ import annotations

import argparse

from ragperf import argtypes

DTYPES = ("float32", "bfloat16", "float16")
REQUIRED = object()  # a default that makes the argument required


ROUNDS = argtypes.Count(1, 100_000, "rounds")
NEW_TOKENS = argtypes.Count(1, argtypes.MAX_TOKENS, "tokens")
PROMPT_LEN = argtypes.Count(1, argtypes.MAX_TOKENS, "prompt tokens")
SEED = argtypes.Count(0, 2**31 - 1, "seed")
REPEATS = argtypes.Count(1, 1_000, "repeats")
PROCESSES = argtypes.Count(1, 1_000, "processes")
PAIRS = argtypes.Count(1, 100, "pairs")
RUNS = argtypes.Count(1, 1_000, "runs")


def variant_name(text: str) -> str:
    """A ladder rung (embedders) or a decode mode (decoders)."""
    from ragperf.models.decode_modes import MODES
    from ragperf.models.ladder import GPU_VARIANTS, LADDER

    known = (*LADDER, *GPU_VARIANTS, *MODES)
    if text not in known:
        raise argtypes.Bad(f"unknown variant {text!r}; choose a ladder rung ({', '.join([*LADDER, *GPU_VARIANTS])}) "
                           f"or a decode mode ({', '.join(MODES)})")
    return text


def model_spec(text: str) -> str:
    """A model name or folder: not empty (which model it names is checked where it is loaded)."""
    if not text.strip():
        raise argtypes.Bad("empty model; give a model name or a local model folder")
    return text


# dest -> (option, argparse settings); the order here is the order in --help.
SHARED: dict[str, tuple[str, dict]] = {
    "model": ("--model", {"type": model_spec, "help": "embedder or decoder: a name or a local model folder"}),
    "variant": ("--variant", {"type": variant_name, "help": "ladder rung (embedders) or decode mode (decoders)"}),
    "device": ("--device", {"type": argtypes.device, "metavar": "cpu|cuda", "help": "cpu, or cuda where torch sees a GPU"}),
    "backend": ("--backend", {"choices": argtypes.BACKENDS, "help": "torch.compile backend"}),
    "dtype": ("--dtype", {"choices": DTYPES, "help": "weights' dtype"}),
    "rounds": ("--rounds", {"type": ROUNDS, "help": f"timed rounds ({ROUNDS.bounds})"}),
    "new_tokens": ("--new-tokens", {"type": NEW_TOKENS, "help": f"tokens generated per run ({NEW_TOKENS.bounds})"}),
    "prompt_len": ("--prompt-len", {"type": PROMPT_LEN, "help": f"prompt tokens ({PROMPT_LEN.bounds})"}),
    "seed": ("--seed", {"type": SEED, "help": f"random seed ({SEED.bounds})"}),
    "repeats": ("--repeats", {"type": REPEATS, "help": f"repeats per measurement ({REPEATS.bounds})"}),
    "slowdown": ("--slowdown", {"type": argtypes.slowdown, "help": "planted slowdown of the compiled path (0.1 = 10%%)"}),
    "progress": ("--progress", {"action": "store_true", "help": "progress lines on stderr"}),
}


def add(parser: argparse.ArgumentParser, **defaults) -> None:
    """Add the shared arguments named by ``defaults`` (dest -> this job's default; :data:`REQUIRED` makes it
    required), in :data:`SHARED`'s order. A name that is not shared is a programming error (KeyError)."""
    for dest in defaults.keys() - SHARED.keys():
        raise KeyError(f"{dest!r} is not a shared job argument; declare it in the job itself")
    for dest, (option, settings) in SHARED.items():
        if dest not in defaults:
            continue
        default = defaults[dest]
        settings = dict(settings, dest=dest)
        if default is REQUIRED:
            settings["required"] = True
        elif settings.get("action") != "store_true":
            settings["default"] = default
            settings["help"] = f"{settings['help']}; default %(default)s"
        parser.add_argument(option, **settings)
