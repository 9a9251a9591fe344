"""``ragperf run`` under faults: a child job that hangs, an Inductor cache folder it cannot use, and
the temporary cache folders it makes (gone when their job ends)."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace

import psutil
import pytest

from ragperf import subproc
from ragperf.coldstart.cache import check_cache_dir
from ragperf.commands import run as run_cmd
from ragperf.errors import RagperfError
from ragperf.models.decode_modes import run_modes

# Started as `python -m ragperf.jobs decode`, a child with this on its path hangs before doing anything.
HANG = """
import os, sys, time
if sys.orig_argv[2:4] == ["ragperf.jobs", "decode"]:
    print(f"[ragperf]   pid {os.getpid()} hangs on purpose", file=sys.stderr, flush=True)
    time.sleep(20)
"""


def _args(tmp_path, **overrides) -> Namespace:
    return Namespace(**{"suite": "all", "model": "tiny-bert", "decoder": ["tiny-llama"], "device": "cpu", "quick": True,
                        "rounds": None, "batch_sizes": "1", "new_tokens": 2, "backend": "aot_eager",
                        "out": tmp_path / "out", **overrides})


def test_a_hung_decode_job_is_killed_at_its_timeout_and_the_report_is_still_written(tmp_path, monkeypatch, capsys,
                                                                                     private_tmp):
    (tmp_path / "hang").mkdir()
    (tmp_path / "hang" / "sitecustomize.py").write_text(HANG)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path / 'hang'}:{subproc.os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv(subproc.TIMEOUT_ENV, "1")
    later = []

    def rag(args, size):
        later.append("rag")
        raise run_cmd.SectionUnavailable("not needed here")

    monkeypatch.setitem(run_cmd.SUITES, "all", ("decode", "rag"))  # a section after the hung one
    monkeypatch.setitem(run_cmd.SECTION_JOBS, "rag", rag)
    assert run_cmd.run(_args(tmp_path)) == 1
    err = capsys.readouterr().err
    hung = [int(line.split("pid ")[1].split()[0]) for line in err.splitlines() if "hangs on purpose" in line]
    assert len(hung) == len(run_modes("cpu")), err  # every mode's child started (and hung) ...
    assert not [pid for pid in hung if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    for mode in run_modes("cpu"):  # ... and was killed, each failure naming its section and job
        assert f"decode tiny-llama {mode}: FAILED - ragperf.jobs decode" in err
    assert "hung: killed after its 1 s timeout (set RAGPERF_JOB_TIMEOUT_S to allow longer)" in err
    assert "[ragperf] decode: FAILED - every decode job failed" in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {n: s["status"] for n, s in report["sections"].items()} == {
        "decode": "failed", "rag": "not available", "compile_summary": "ok"}
    assert later == ["rag"]
    assert "hung" in report["sections"]["decode"]["error"]
    assert not list(private_tmp.glob("ragperf-inductor-*"))  # the killed jobs' cache folders too


@pytest.mark.parametrize("outcome", ["ok", "failed", "interrupted"])
def test_each_decode_job_gets_a_fresh_inductor_cache_folder_removed_when_it_ends(tmp_path, monkeypatch, private_tmp,
                                                                                 outcome):
    folders = []

    def job(module, args, env=None, progress=None, timeout=None, **_):
        folder = run_cmd.Path(env["TORCHINDUCTOR_CACHE_DIR"])
        assert folder.is_dir() and not any(folder.iterdir()), "not a fresh, empty folder"
        (folder / "fxgraph").mkdir()  # what Inductor leaves in it
        (folder / "fxgraph" / "entry").write_text("compiled")
        folders.append(folder)
        if outcome == "interrupted":
            raise KeyboardInterrupt
        if outcome == "failed":
            raise RagperfError("the job failed")
        return {"rows": []}

    monkeypatch.setattr(subproc, "run_json", job)
    if outcome == "interrupted":
        with pytest.raises(KeyboardInterrupt):
            run_cmd._decode(_args(tmp_path), "quick")
    elif outcome == "failed":
        with pytest.raises(RuntimeError, match="every decode job failed"):
            run_cmd._decode(_args(tmp_path), "quick")
    else:
        run_cmd._decode(_args(tmp_path), "quick")
    assert folders and len(set(folders)) == len(folders)
    assert [f.parent for f in folders] == [private_tmp] * len(folders)
    assert not list(private_tmp.iterdir())


def test_an_unusable_inductor_cache_folder_stops_ragperf_run_before_measuring(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    bad = tmp_path / "a-file" / "cache"
    env = {**subproc.os.environ, "TORCHINDUCTOR_CACHE_DIR": str(bad)}
    result = subprocess.run([sys.executable, "-m", "ragperf.cli", "run", "--suite", "embed", "--model", "tiny-bert",
                             "--quick", "--rounds", "1", "--backend", "aot_eager", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"ragperf: error: Inductor cache folder {bad} (TORCHINDUCTOR_CACHE_DIR) is not usable: Not a "
                    "directory; point TORCHINDUCTOR_CACHE_DIR at a writable folder, or unset it")
    assert not (tmp_path / "out").exists()


def test_check_cache_dir_creates_a_missing_folder_and_refuses_a_file(tmp_path):
    assert check_cache_dir(tmp_path / "new" / "cache").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(RagperfError, match="is not usable"):
        check_cache_dir(tmp_path / "f")
