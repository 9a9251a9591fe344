"""The served retriever (ragperf.serve): real uvicorn workers on loopback, real locust load, clean shutdown.

Deterministic: nothing here asserts a timing; tiny-bert compiled with aot_eager keeps it to seconds.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from ragperf.models.embedders import load_embedder
from ragperf.models.ladder import build_variant
from ragperf.rag.corpus import load_known_answers
from ragperf.rag.embeddings import LadderEmbeddings
from ragperf.rag.pipeline import build_index, chunk_keys, crawl_corpus, retrieve
from ragperf.serve.launcher import serving
from ragperf.serve.load import run_load
from ragperf.serve.retriever import ServeConfig

QUESTIONS = [q.question for q in load_known_answers().questions]


@pytest.fixture(scope="module")
def server(index_dir, survivors):
    config = ServeConfig("tiny-bert", "compile", str(index_dir), workers=2, threads=1, backend="aot_eager",
                         header_timeout_s=2.0)
    with serving(config) as served:
        yield served
    assert not survivors(served.pids), "a server process survived shutdown"


def test_load_answers_every_request_with_the_in_process_top5_and_no_recompile(server, post):
    result = run_load(server.url, users=4, seconds=3, min_requests=20)  # a slow machine runs longer
    assert result.requests >= 20 and result.failures == 0, result
    assert server.recompiles() == 0, server.workers()
    assert len(server.workers()) == 2
    store = build_index(crawl_corpus(), LadderEmbeddings(build_variant(load_embedder("tiny-bert"), "eager")))
    for question in QUESTIONS:
        status, body = post(server.url, json.dumps({"query": question, "k": 5}).encode())
        assert status == 200, body
        assert [c["text"] for c in body["chunks"]] == chunk_keys(retrieve(store, question, 5)), question


@pytest.mark.parametrize(("body", "status"), [
    (b'{"query": "", "k": 5}', 422),
    (b'{"query": "   "}', 422),
    (json.dumps({"query": "x" * 1_000_000, "k": 5}).encode(), 413),
    (b"{not json", 400),
    (b'["query"]', 400),
    (b'{"k": 5}', 422),
    (b'{"query": "json", "k": 0}', 422),
    (b'{"query": "json", "k": -3}', 422),
    (b'{"query": "json", "k": 1000000}', 422),
    (b'{"query": "json", "k": "five"}', 422),
    (b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),  # deeper than the JSON parser recurses
    (b'{"query": "\\ud800"}', 400),  # valid JSON, a lone surrogate: no UTF-8 text for the tokenizer
    (b'{"query": "ok \\udfff", "k": 2}', 400),
])
def test_bad_request_gets_a_4xx_with_one_line_and_the_worker_keeps_serving(server, body, status, post, survivors):
    workers = {w["pid"] for w in server.workers()}
    got, answer = post(server.url, body)
    assert got == status, answer
    assert answer["error"] and "\n" not in answer["error"]
    assert post(server.url, b'{"query": "What is JSON?", "k": 5}')[0] == 200
    assert {w["pid"] for w in server.workers()} == workers
    assert not survivors(set()) and all(psutil.pid_exists(p) for p in workers)


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nowhere", 404), ("GET", "/retrieve", 405),
                                                       ("DELETE", "/health", 405)])
def test_routing_refusals_answer_json_like_every_other_refusal(server, method, path, status):
    request = urllib.request.Request(f"{server.url}{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30)
    assert refused.value.code == status
    assert refused.value.headers["content-type"] == "application/json"
    reason = json.loads(refused.value.read())["error"]
    assert path in reason and "\n" not in reason


def test_connections_that_never_finish_their_headers_are_closed_and_the_server_keeps_serving(server, post):
    """Each connection sends half a request head and nothing more: the server must close every one (the
    worker's header bound, 2 s here); a read waits for that close, bounded by its own timeout."""
    port = int(server.url.rsplit(":", 1)[1])
    held = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(50)]
    try:
        for sock in held:
            sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")
        closed = [sock.recv(1024) == b"" for sock in held]  # b"": the server closed it
    finally:
        for sock in held:
            sock.close()
    assert all(closed), f"{closed.count(False)} of {len(held)} half-open connections were answered, not closed"
    assert post(server.url, b'{"query": "What is JSON?", "k": 5}')[0] == 200


def test_a_request_whose_body_stops_short_is_closed_and_the_server_keeps_serving(server, post):
    """The head is complete and promises 100 bytes of body; 9 come. The worker's bound closes it (a read waits
    for that close, bounded by its own timeout)."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /retrieve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"query\"")
        assert sock.recv(1024) == b"", "a request whose body never completes was answered, not closed"
    assert post(server.url, b'{"query": "What is JSON?", "k": 5}')[0] == 200


def test_ctrl_c_leaves_no_process_behind(index_dir, survivors):
    config = ServeConfig("tiny-bert", "eager", str(index_dir), workers=2, threads=1)
    with pytest.raises(KeyboardInterrupt), serving(config) as served:
        pids = set(served.pids)
        assert len(pids) >= 3  # the supervisor and its two workers
        raise KeyboardInterrupt
    assert not survivors(pids)


def test_servers_served_together_all_start_before_any_is_waited_for(monkeypatch, index_dir, tmp_path):
    from ragperf.serve import launcher

    events = []
    monkeypatch.setattr(launcher, "_launch", lambda config: events.append(("launch", config.variant)) or
                        SimpleNamespace(config=config, log=SimpleNamespace(close=lambda: None),
                                        state_dir=tmp_path / config.variant))
    monkeypatch.setattr(launcher, "_wait_ready", lambda server, *a: events.append(("wait", server.config.variant)))
    monkeypatch.setattr(launcher, "stop", lambda server: events.append(("stop", server.config.variant)))
    configs = [ServeConfig("tiny-bert", v, str(index_dir)) for v in ("eager", "compile")]
    with launcher.serving_all(configs) as servers:
        assert [s.config.variant for s in servers] == ["eager", "compile"]
    assert events == [("launch", "eager"), ("launch", "compile"), ("wait", "eager"), ("wait", "compile"),
                      ("stop", "eager"), ("stop", "compile")]


def test_a_server_that_cannot_start_stops_the_ones_started_beside_it(index_dir, tmp_path, survivors):
    from ragperf.errors import RagperfError
    from ragperf.serve import launcher

    started = []
    launch = launcher._launch
    good = ServeConfig("tiny-bert", "eager", str(index_dir), workers=2)
    bad = ServeConfig("tiny-bert", "eager", str(tmp_path))  # no index there: the worker fails at start-up
    with pytest.raises(RagperfError, match="exited .* before it was ready.*holds no FAISS index"), \
            pytest.MonkeyPatch.context() as patch:
        patch.setattr(launcher, "_launch", lambda config: started.append(launch(config)) or started[-1])
        with launcher.serving_all([good, bad]):
            pass
    pids = set().union(*(s.pids | {s.process.pid} for s in started))
    assert len(started) == 2 and not survivors(pids)


def _victim_with_a_connection(server, load: threading.Thread) -> psutil.Process:
    """A worker holding an established connection from the load tool (waits for one while the load runs)."""
    port = int(server.url.rsplit(":", 1)[1])
    while load.is_alive():
        for w in server.live_workers():
            proc = psutil.Process(w["pid"])
            if any(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in proc.net_connections("tcp")):
                return proc
        time.sleep(0.05)
    pytest.fail("no worker got a connection from the load run")


def _unread_request_ports(port: int) -> set[int]:
    """Client ports of loopback connections to ``port`` whose request bytes sit unread by the server (Linux)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, rx_queue = fields[1], fields[2], int(fields[4].split(":")[1], 16)
        if int(local.split(":")[1], 16) == port and rx_queue > 0:
            out.add(int(remote.split(":")[1], 16))
    return out


def _freeze_then_kill(victim: psutil.Process, port: int, load: threading.Thread) -> None:
    """SIGSTOP ``victim``, wait until a request sits unread in one of its connections, then SIGKILL it: the
    kill then fails a request in flight every time, whatever the schedule (no sleep decides it)."""
    victim.send_signal(signal.SIGSTOP)
    mine = {c.raddr.port for c in victim.net_connections("tcp") if c.raddr and c.laddr.port == port}
    while load.is_alive() and not mine & _unread_request_ports(port):
        time.sleep(0.02)
    reached = bool(mine & _unread_request_ports(port))
    victim.send_signal(signal.SIGKILL)
    assert reached, "the load ended before a request reached the frozen worker"


@pytest.mark.slow  # ~17 s on 2 idle cores (a second server start and a respawn); in .ci/repeat-under-load
@pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="reads unread socket bytes from Linux's /proc/net/tcp")
def test_a_worker_killed_under_load_is_counted_and_replaced(index_dir, post, survivors):
    config = ServeConfig("tiny-bert", "eager", str(index_dir), workers=2, threads=1)
    with serving(config) as served:
        before = {w["pid"] for w in served.live_workers()}
        port = int(served.url.rsplit(":", 1)[1])
        result = {}
        load = threading.Thread(target=lambda: result.update(run=run_load(served.url, users=4, seconds=6,
                                                                              keep_alive=True)))
        load.start()
        victim = _victim_with_a_connection(served, load)
        _freeze_then_kill(victim, port, load)
        load.join(timeout=120)  # run_load bounds itself (locust --run-time, then a hard timeout)
        assert not load.is_alive() and "run" in result, "the load run did not come back"
        run = result["run"]
        assert run.failures >= 1 and run.requests > run.failures, run
        assert any("Connection" in reason or "Disconnected" in reason for reason in run.failure_reasons), run
        assert served.recover(timeout=300) == [victim.pid]
        after = {w["pid"] for w in served.live_workers()}
        assert len(after) == 2 and victim.pid not in after and after & before, (before, after)
        assert post(served.url, b'{"query": "What is JSON?", "k": 5}')[0] == 200
        assert served.recover() == []  # reported once
    assert not survivors(served.pids | after), "a server process survived shutdown"


def test_a_dead_worker_that_is_not_replaced_fails_with_the_reason(tmp_path):
    """The supervisor itself gone (e.g. uvicorn gave up restarting): recover() names the dead worker and
    the server's last log line, instead of waiting on a replacement that cannot come."""
    import subprocess
    import sys

    from ragperf.errors import RagperfError
    from ragperf.serve.launcher import Server

    log = (tmp_path / "server.log").open("w+", encoding="utf-8")
    supervisor = subprocess.Popen([sys.executable, "-c", "print('Child process failed to start, stopping')"],
                                  stdout=log, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([sys.executable, "-c", "pass"])
    supervisor.wait(timeout=60), worker.wait(timeout=60)
    (tmp_path / f"{worker.pid}.json").write_text(json.dumps({"pid": worker.pid, "recompiles": 0}))
    config = ServeConfig("tiny-bert", "eager", str(tmp_path), workers=1, threads=1)
    server = Server("http://127.0.0.1:9", config, supervisor, tmp_path, log=log)
    with pytest.raises(RagperfError, match=rf"\[{worker.pid}\] died while serving and were not replaced: the "
                                           r"server exited \(code 0\).*Child process failed to start"):
        server.recover(timeout=60)
    log.close()


def test_a_load_run_in_which_no_request_finished_reads_as_zero_requests(tmp_path):
    from ragperf.serve.load import _parse

    stats = tmp_path / "load_stats.csv"
    stats.write_text("Type,Name,Request Count,Failure Count,Requests/s,50%,90%,99%\n"
                     ",Aggregated,0,0,0.0,N/A,N/A,N/A\n")
    result = _parse(stats, users=4, seconds=3)
    assert result.requests == 0 and result.p99_ms != result.p99_ms  # nan: no latency to report
