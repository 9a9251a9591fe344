"""scripts/gpu_lane.py offline: what it carries, the selection it runs, and each missing step is one line."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def lane():
    spec = importlib.util.spec_from_file_location("gpu_lane", ROOT / "scripts" / "gpu_lane.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lane_in(lane, tmp_path, monkeypatch):
    """The script with its .gpu-lane folder under tmp_path."""
    folder = tmp_path / ".gpu-lane"
    for name, path in {"LANE": folder, "WHEELS": folder / "wheels", "SITE": folder / "site",
                       "INSTALLED": folder / "site" / ".ragperf-installed", "MINILM_FP16": folder / "minilm-fp16",
                       "MINILM": folder / "minilm"}.items():
        monkeypatch.setattr(lane, name, path)
    monkeypatch.setattr(lane, "ROOT", tmp_path)
    return lane


def test_it_carries_the_rag_packages_the_image_lacks_pinned_to_this_environment(lane):
    from importlib import metadata

    pins = dict(pin.split("==") for pin in lane.needed())
    assert {"faiss-cpu", "langchain-community", "langchain-core", "langchain-text-splitters",
            "beautifulsoup4"} <= set(pins)
    assert not set(pins) & (lane.device_packages() | set(lane.LEFT_OUT))
    assert all(metadata.version(name) == version for name, version in pins.items())
    assert {"torch", "transformers", "sentence-transformers", "pytest"} <= lane.device_packages()


def test_it_runs_tox_gpu_selection_with_the_rag_modules(lane):
    args = lane.gpu_selection(["-x"])
    assert args[:2] == ["tests/correctness", "tests/recompile"] and args[-1] == "-x"
    assert "--ragperf-device" in args and args[args.index("--ragperf-device") + 1] == "cuda"
    assert "{posargs}" not in " ".join(args) and not any(a.startswith("--ignore") for a in args)
    assert (ROOT / "tests/correctness/test_rag_retrieval.py").exists()
    assert (ROOT / "tests/recompile/test_rag_recompiles.py").exists()


def test_a_gpu_env_that_is_not_pytest_is_refused(lane_in, tmp_path):
    (tmp_path / "tox.ini").write_text("[testenv:gpu]\ncommands = python -m something\n")
    with pytest.raises(lane_in.LaneError, match="runs 'python', not pytest"):
        lane_in.gpu_selection([])


def test_two_versions_of_a_wheel_stop_the_check(lane_in):
    lane_in.WHEELS.mkdir(parents=True)
    for version in ("1.0", "1.1"):
        (lane_in.WHEELS / f"faiss_cpu-{version}-cp310-abi3-manylinux_2_28_x86_64.whl").write_bytes(b"")
    with pytest.raises(lane_in.LaneError, match="two versions of faiss-cpu"):
        lane_in.check(["faiss-cpu==1.1"])


def test_each_missing_step_says_what_to_carry(lane_in, capsys):
    assert lane_in.main(["run"]) == 2
    assert "the wheels are not installed on this machine" in capsys.readouterr().err
    assert lane_in.main(["install"]) == 2
    assert 'name ".gpu-lane/wheels" in this call\'s carry' in capsys.readouterr().err
    lane_in.INSTALLED.parent.mkdir(parents=True)
    lane_in.INSTALLED.write_text("{}")
    assert lane_in.main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'name ".gpu-lane/minilm-fp16" in this call\'s carry' in err[0]


def test_minilm_comes_back_in_fp32_and_a_changed_file_is_refused(lane_in):
    import torch
    from safetensors.torch import load_file, save_file

    weights = {"w": torch.tensor([0.1, -2.5, 3e-3]), "ids": torch.tensor([1, 2])}
    lane_in.MINILM_FP16.mkdir(parents=True)
    (lane_in.MINILM_FP16 / "config.json").write_text("{}")
    fp16 = lane_in.MINILM_FP16 / "model.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, fp16)
    record = {"fp16_sha256": lane_in._sha256(fp16)}
    (lane_in.MINILM_FP16 / lane_in.MINILM_RECORD).write_text(json.dumps(record))
    lane_in.unpack_minilm()
    back = load_file(lane_in.MINILM / "model.safetensors")
    assert back["w"].dtype == torch.float32 and torch.allclose(back["w"], weights["w"], rtol=2**-11)
    assert torch.equal(back["ids"], weights["ids"])
    assert sorted(p.name for p in lane_in.MINILM.iterdir()) == ["config.json", "model.safetensors"]
    fp16.write_bytes(fp16.read_bytes()[:-2] + b"  ")
    with pytest.raises(lane_in.LaneError, match="is not the file prepare wrote"):
        lane_in.unpack_minilm()
