"""A test per cold-start path on tiny-bert, each start a fresh process with its own cache dir.

``aot_eager`` where Inductor is not needed (it records no cache entries, so its Mega-Cache start
must fall back, and say so); one Inductor test proves that a carried Mega-Cache turns a fresh
process's compile into FX-graph and AOTAutograd cache hits. The AOTInductor start and the full
matrix against the table are ``slow``.
"""

import json

import pytest

from ragperf.coldstart import artifacts as carried
from ragperf.coldstart.bypass import counts
from ragperf.coldstart.matrix import matrix, rows
from ragperf.subproc import run_job

MODEL = "tiny-bert"


def _start(path, artifacts, cache_dir, variant="compile", backend="aot_eager"):
    said = []
    result = run_job("coldstart", ["--model", MODEL, "--variant", variant, "--path", path,
                                   "--artifacts", str(artifacts), "--rounds", "3", "--backend", backend],
                     env={"TORCHINDUCTOR_CACHE_DIR": str(cache_dir)}, progress=said.append)
    return result, said


@pytest.mark.slow  # kept out of the default suite for its time budget (CI: 2 cores, 15 min)
def test_cold_and_warm_starts_compile_once_and_keep_parity_and_clean_up(private_tmp):
    data = matrix(MODEL, ["compile"], ["cold", "warm", "megacache"], rounds=3, backend="aot_eager")
    by_path = {r["path"]: r for r in rows(data)}
    assert set(by_path) == {"cold", "warm", "megacache"}
    for path, row in by_path.items():
        assert row["graphs"] == 1, (path, row)
        assert row["parity"].startswith("PASS"), (path, row)
        assert row["first_call_s"] > 0
    # aot_eager fills no Inductor cache, so there is no Mega-Cache to carry: that start says so and compiles.
    assert data["results"]["compile"]["cold"]["megacache_entries"] == 0
    assert "Mega-Cache not used" in by_path["megacache"]["fallback"]
    assert by_path["cold"]["fallback"] is None and by_path["warm"]["fallback"] is None
    assert list(private_tmp.iterdir()) == [], "the matrix left its cache dirs behind"


def test_megacache_from_another_torch_falls_back_to_compiling_and_says_so(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    blob = artifacts / carried.MEGACACHE
    blob.write_bytes(b"entries of another torch")
    carried.write_manifest(blob, "megacache")
    manifest = json.loads((artifacts / f"{carried.MEGACACHE}.json").read_text())
    (artifacts / f"{carried.MEGACACHE}.json").write_text(json.dumps({**manifest, "torch": "2.12.0+cpu"}))
    result, said = _start("megacache", artifacts, tmp_path / "cache")
    assert "torch 2.12.0+cpu" in result["fallback"] and "compiling from scratch" in result["fallback"]
    assert [line for line in said if "Mega-Cache not used" in line], said  # said once, on its own line
    assert result["graphs"] == 1 and result["parity"]["passed"]
    assert result["megacache_entries"] == 0


def test_truncated_aoti_package_falls_back_to_torch_compile_and_says_so(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    package = artifacts / carried.AOTI
    package.write_bytes(b"PK\x03\x04" + bytes(4096))
    carried.write_manifest(package, "aoti")
    package.write_bytes(package.read_bytes()[:1000])  # cut short in transfer
    result, said = _start("aoti", artifacts, tmp_path / "cache")
    assert "truncated" in result["fallback"] and "torch.compile instead" in result["fallback"]
    assert [line for line in said if "AOTInductor package not used" in line], said
    assert result["graphs"] == 1 and result["parity"]["passed"]


def test_unloadable_aoti_package_with_a_good_manifest_falls_back(tmp_path, load_embedder):
    package, embedder = tmp_path / carried.AOTI, load_embedder(MODEL)
    package.write_bytes(b"not a zip at all")
    carried.write_manifest(package, "aoti", embedder.device.type)  # a good manifest for this run's device
    model, line = carried.load_aoti(package, embedder, "compile", backend="aot_eager")
    assert line is not None and "aoti_load_package refused" in line
    assert model.transformer is not load_embedder(MODEL).transformer  # a torch.compile'd rung instead


def test_megacache_makes_a_fresh_process_compile_hit_the_caches(private_tmp, bypass_table):
    """The one Inductor test of the default suite: cold compiles (misses), saves the Mega-Cache; a fresh
    process with an empty cache dir loads it and its compile is all hits."""
    data = matrix(MODEL, ["compile"], ["cold", "megacache"], rounds=3)
    steps = data["results"]["compile"]
    cold, mega = steps["cold"], steps["megacache"]
    assert "error" not in cold and "error" not in mega, steps
    assert cold["cache"]["fxgraph_miss"] >= 1 and cold["megacache_entries"] >= 1
    assert mega["fallback"] is None and mega["megacache_entries"] == cold["megacache_entries"]
    assert mega["cache"]["fxgraph_hit"] >= 1 and mega["cache"]["fxgraph_miss"] == 0
    assert mega["cache"]["autograd_hit"] >= 1 and mega["cache"]["autograd_miss"] == 0
    assert mega["parity"]["passed"]
    for path in ("cold", "megacache"):
        bypass_table.verify((MODEL, "compile", path, "inductor"), counts(steps[path]))


@pytest.mark.slow
def test_aoti_package_starts_without_compiling(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    built, _ = _start("package", artifacts, tmp_path / "cache-package", backend="inductor")
    assert built["bytes"] > 0
    result, _ = _start("aoti", artifacts, tmp_path / "cache-aoti", backend="inductor")
    assert result["fallback"] is None
    assert result["graphs"] == 0 and sum(result["cache"].values()) == 0  # nothing JIT-compiled
    assert result["parity"]["passed"]


@pytest.mark.slow
def test_matrix_matches_the_bypass_table(private_tmp, bypass_table):
    """Every rung x start path on tiny-bert with Inductor; fails when torch changes what bypasses what."""
    data = matrix(MODEL, rounds=3)
    problems = []
    for variant, steps in data["results"].items():
        for path, result in steps.items():
            if path == "package":
                continue
            assert "error" not in result, (variant, path, result)
            try:
                bypass_table.verify((MODEL, variant, path, "inductor"), counts(result))
            except AssertionError as exc:
                problems.append(str(exc))
    assert not problems, "\n".join(problems)
    assert list(private_tmp.iterdir()) == []

