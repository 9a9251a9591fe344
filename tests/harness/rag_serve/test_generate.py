"""The LLM endpoint and the RAG -> LLM chain (ragperf.serve.generate, .chain, .open_loop) on real loopback servers.

tiny-bert and tiny-llama compiled with aot_eager: cheap. Nothing asserts a timing; waits are for states.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from ragperf.models.decoders import load_decoder
from ragperf.models.embedders import load_embedder
from ragperf.models.generation import build_generator
from ragperf.models.ladder import build_variant
from ragperf.rag.corpus import load_known_answers
from ragperf.rag.embeddings import LadderEmbeddings
from ragperf.rag.pipeline import build_index, chunk_keys, crawl_corpus, retrieve
from ragperf.serve.chain import STAGES, chain_request, stage_shares
from ragperf.serve.generate import GenerateConfig, prompt_tokens
from ragperf.serve.launcher import serving_all
from ragperf.serve.open_loop import run_open_loop, summarize
from ragperf.serve.retriever import ServeConfig

MAX_TOKENS = 12  # the server's bound on max_tokens
QUESTIONS = [q.question for q in load_known_answers().questions]


@pytest.fixture(scope="module")
def servers(index_dir, survivors):
    rag = ServeConfig("tiny-bert", "compile", str(index_dir), backend="aot_eager")
    llm = GenerateConfig("tiny-llama", "compile-prefill-decode", backend="aot_eager", max_tokens=MAX_TOKENS)
    with serving_all([rag, llm]) as started:
        yield started
    assert not survivors(set().union(*(s.pids for s in started))), "a server process survived shutdown"


def _greedy(prompt: str, new_tokens: int) -> list[int]:
    import torch

    generator = build_generator(load_decoder("tiny-llama"), "eager")
    return generator.generate(torch.tensor([prompt_tokens(prompt)]), new_tokens).tokens[0].tolist()


def test_a_chain_under_open_load_answers_every_request_with_the_in_process_topk_and_greedy_tokens(servers):
    rag, llm = servers
    requests = 2 * len(QUESTIONS)
    one = chain_request(rag.url, llm.url, QUESTIONS, k=3, max_tokens=MAX_TOKENS, context=512)
    records, duration = run_open_loop(one, rate=20.0, requests=requests, max_seconds=240)
    assert [r.error for r in records] == [None] * requests
    assert rag.recompiles() == 0 and llm.recompiles() == 0, (rag.workers(), llm.workers())
    store = build_index(crawl_corpus(), LadderEmbeddings(build_variant(load_embedder("tiny-bert"), "eager")))
    for record in records:
        question = record.answer["question"]
        assert record.answer["chunks"] == chunk_keys(retrieve(store, question, 3)), question
        assert record.tokens == _greedy(record.answer["prompt"], MAX_TOKENS), question
        assert len(record.token_s) == MAX_TOKENS and record.token_s == sorted(record.token_s)
        assert record.ttft_s <= record.end_s and set(record.stages) == set(STAGES)
    summary = summarize(records, duration, {"e2e": 3600.0})
    assert summary["completed"] == summary["good"] == requests and summary["output_tokens"] == requests * MAX_TOKENS
    assert sum(s["share"] for s in stage_shares(records).values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("body", "status", "says"), [
    (b'{"prompt": "hi", "max_tokens": -1}', 422, "max_tokens"),
    (b'{"prompt": "hi", "max_tokens": 0}', 422, "max_tokens"),
    (json.dumps({"prompt": "hi", "max_tokens": MAX_TOKENS + 1}).encode(), 422, f"1 to {MAX_TOKENS}"),
    (b'{"prompt": "hi", "max_tokens": "5"}', 422, "max_tokens"),
    (b'{"prompt": "hi", "max_tokens": 2.5}', 422, "max_tokens"),
    (b'{"prompt": "hi", "max_tokens": true}', 422, "max_tokens"),
    (b'{"prompt": 5}', 422, "prompt"),
    (b'{"prompt": ["a"]}', 422, "prompt"),
    (b'{"max_tokens": 3}', 422, "prompt"),
    (json.dumps({"prompt": "x" * 600}).encode(), 400, "context of 512"),  # 601 tokens + 12 > 512
    (json.dumps({"prompt": "x" * (512 - MAX_TOKENS), "max_tokens": MAX_TOKENS}).encode(), 400, "context"),
    (b'{"prompt": "\\ud800"}', 400, "surrogate"),
    (b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nested"),
    (b"not json", 400, "not JSON"),
    (b'"prompt"', 400, "JSON object"),
])
def test_a_bad_generate_request_gets_a_4xx_with_one_line_and_the_worker_keeps_serving(servers, post, body,
                                                                                      status, says):
    _, llm = servers
    pids = {w["pid"] for w in llm.live_workers()}
    got, answer = post(llm.url, body, "/generate")
    assert got == status and says in answer["error"] and "\n" not in answer["error"], answer
    assert _stream(llm.url, "hello", 2)[-1] == {"done": True, "tokens": 2, "prompt_tokens": 6}
    assert {w["pid"] for w in llm.live_workers()} == pids


def test_the_longest_prompt_the_context_holds_is_served(servers):
    _, llm = servers
    events = _stream(llm.url, "x" * (512 - MAX_TOKENS - 1), MAX_TOKENS)
    assert events[-1]["done"] and len(events) == MAX_TOKENS + 1


def test_a_client_that_disconnects_mid_stream_leaves_no_worker_busy(servers):
    _, llm = servers
    before = {w["pid"]: w["served"] + w["stopped"] for w in llm.live_workers()}
    port = int(llm.url.rsplit(":", 1)[1])
    body = json.dumps({"prompt": "a question " * 40, "max_tokens": MAX_TOKENS}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        seen = b""
        while b'"token"' not in seen:  # the first token event: the generation is under way
            chunk = sock.recv(4096)
            assert chunk, "the server closed the stream before its first token"
            seen += chunk
    # gone mid-stream: wait for the worker to report the generation over (served to the end, or stopped)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = llm.live_workers()
        if all(w["active"] == 0 for w in workers) and \
                sum(w["served"] + w["stopped"] for w in workers) == sum(before.values()) + 1:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"a worker is still busy after its client left: {llm.live_workers()}")
    assert {w["pid"] for w in llm.live_workers()} == set(before) and llm.recompiles() == 0
    assert _stream(llm.url, "still there?", 3)[-1]["done"]


@pytest.fixture(scope="module")
def static_llm(survivors):
    config = GenerateConfig("tiny-llama", "static-cudagraphs", backend="aot_eager", max_tokens=4, context=128)
    with serving_all([config]) as (started,):
        yield started
    assert not survivors(started.pids), "a server process survived shutdown"


def test_a_static_cache_mode_serves_every_prompt_length_from_its_warmed_buckets_without_a_recompile(static_llm):
    health = json.loads(httpx_get(f"{static_llm.url}/health"))
    assert health["cache_lengths"] == [64, 128] and health["context"] == 128
    # byte prompts of n chars are n + 1 tokens: both sides of each bucket's edge, and the longest prompt served
    for chars, new_tokens in [(3, 4), (59, 4), (60, 4), (100, 1), (110, 2), (123, 4)]:
        events = _stream(static_llm.url, "y" * chars, new_tokens)
        assert events[-1] == {"done": True, "tokens": new_tokens, "prompt_tokens": chars + 1}, events[-1]
        assert [e["token"] for e in events[:-1]] == _greedy("y" * chars, new_tokens), chars
    (worker,) = static_llm.live_workers()
    assert worker["recompiles"] == 0 and worker["cudagraph_rerecords"] == 0 and worker["errors"] == 0, worker


def httpx_get(url: str) -> str:
    import httpx

    return httpx.get(url, trust_env=False, timeout=60).text


def _stream(url: str, prompt: str, max_tokens: int) -> list[dict]:
    """The events of one ``/generate`` stream, in order."""
    import httpx

    with httpx.Client(trust_env=False, timeout=120) as client, \
            client.stream("POST", f"{url}/generate", json={"prompt": prompt, "max_tokens": max_tokens}) as answer:
        assert answer.status_code == 200, answer.read()
        return [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: ")]
