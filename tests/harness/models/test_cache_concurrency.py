"""ragperf's model cache is safe when several processes (xdist workers, CI jobs) materialize one model at once."""

import json
import subprocess
import sys
import textwrap

from ragperf.knobs import subprocess_env

# A child materializes tiny-bert. Its builder is wrapped to log each build and to linger, so the two
# children overlap for seconds: without the lock both would build (and race on the rename).
CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from ragperf.models import registry, tiny

    built = tiny.write_tiny_embedder

    def slow_build(recipe, out):
        with open(os.environ["BUILD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        Path(os.environ["STARTED"] + str(os.getpid())).touch()
        time.sleep(3)
        return built(recipe, out)

    tiny.write_tiny_embedder = slow_build
    Path(os.environ["READY"] + str(os.getpid())).touch()
    while not os.path.exists(os.environ["GO"]):
        time.sleep(0.01)
    print(json.dumps({"path": str(registry.resolve_embedder("tiny-bert"))}))
""")


def test_two_processes_materializing_tiny_bert_at_once_leave_one_complete_folder(tmp_path):
    cache = tmp_path / "cache"
    env = subprocess_env({"RAGPERF_CACHE": str(cache), "BUILD_LOG": str(tmp_path / "builds.log"),
                          "READY": str(tmp_path / "ready-"), "STARTED": str(tmp_path / "started-"),
                          "GO": str(tmp_path / "go")})
    children = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        _wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, children)
        (tmp_path / "go").touch()  # both start materializing at the same instant
        results = [child.communicate(timeout=240) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    paths = {json.loads(out)["path"] for out, _ in results}
    target = cache / "models" / "tiny-bert"
    assert paths == {str(target)}
    assert {"modules.json", "config.json", "model.safetensors", "tokenizer.json", "1_Pooling"} <= \
        {p.name for p in target.iterdir()}
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(target), device="cpu").encode(["a complete model loads"]).shape == (1, 32)
    builds = (tmp_path / "builds.log").read_text().split()
    assert len(builds) == 1, f"the model was built {len(builds)} times (processes {builds})"
    leftovers = [p.name for p in (cache / "models").iterdir() if p.name not in ("tiny-bert", ".tiny-bert.lock")]
    assert not leftovers, f"temporary build folders left behind: {leftovers}"


def _wait_for(condition, children, timeout=120.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        failed = [c for c in children if c.poll() is not None]
        assert not failed, failed[0].stderr.read()
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.05)
