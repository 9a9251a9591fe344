"""The seed's whole flow as a client: retrieve top-k from the RAG endpoint, build the prompt, stream the LLM.

Per request (run on an open-loop schedule by :func:`ragperf.serve.open_loop.run_open_loop`), each stage
is timed, its seconds in the request's ``stages``:

- ``wait``     - schedule -> the request actually starting (the client's own lag; ~0 unless it falls behind);
- ``retrieve`` - ``POST /retrieve`` sent -> its top-k answered (queueing at the RAG workers included);
- ``prompt``   - the seed's prompt built from the question and the chunks, fitted to the decoder's context;
- ``prefill``  - ``POST /generate`` sent -> first token (queueing at the LLM workers included);
- ``decode``   - first token -> last event of the stream.

The stages add up to the request's end-to-end latency; :func:`stage_shares` says what share of it each
took. The chain's TTFT is the user's: schedule -> first token, retrieval included.
"""

from __future__ import annotations

import time

from ragperf.serve.open_loop import Record, stream_generate

STAGES = ("wait", "retrieve", "prompt", "prefill", "decode")


def fit_prompt(question: str, texts: list[str], max_tokens: int, context: int) -> str:
    """The seed's prompt (:func:`ragperf.rag.pipeline.build_prompt`) over ``texts``, each chunk cut to an
    equal share of the byte tokens the decoder's ``context`` leaves after ``max_tokens`` new ones."""
    from langchain_core.documents import Document

    from ragperf.rag.pipeline import build_prompt
    from ragperf.serve.generate import prompt_tokens

    budget = context - max_tokens
    whole = build_prompt(question, [Document(page_content=t) for t in texts])
    if len(prompt_tokens(whole)) <= budget:
        return whole
    frame = len(prompt_tokens(build_prompt(question, [Document(page_content="") for _ in texts])))
    share = max(0, (budget - frame) // max(1, len(texts)))
    clipped = [t.encode("utf-8")[:share].decode("utf-8", "ignore") for t in texts]
    return build_prompt(question, [Document(page_content=t) for t in clipped])


def llm_limits(url: str) -> dict:
    """The LLM endpoint's ``{"context": tokens, "max_tokens": bound}``, from its ``/health``."""
    import httpx

    health = httpx.get(f"{url}/health", timeout=30, trust_env=False).json()
    return {"context": int(health["context"]), "max_tokens": int(health["max_tokens"])}


def chain_request(rag_url: str, llm_url: str, questions: list[str], k: int, max_tokens: int, context: int):
    """The per-request coroutine of the chain: question ``i % len(questions)``."""

    async def one(client, i: int, record: Record, start: float) -> None:
        question = questions[i % len(questions)]
        began = time.perf_counter()
        record.stages["wait"] = began - start
        answer = await client.post(f"{rag_url}/retrieve", json={"query": question, "k": k})
        retrieved = time.perf_counter()
        record.stages["retrieve"] = retrieved - began
        if answer.status_code != 200:
            record.error = f"retrieve {answer.status_code}: {answer.text.strip()[:200]}"
            return
        texts = [c["text"] for c in answer.json()["chunks"]]
        prompt = fit_prompt(question, texts, max_tokens, context)
        sent = time.perf_counter()
        record.stages["prompt"] = sent - retrieved
        record.answer = {"question": question, "chunks": texts, "prompt": prompt}
        await stream_generate(client, llm_url, prompt, max_tokens, record, start)
        end = time.perf_counter()
        first = start + record.token_s[0] if record.token_s else end
        record.stages["prefill"] = first - sent
        record.stages["decode"] = end - first
    return one


def stage_shares(records: list[Record]) -> dict[str, dict[str, float]]:
    """Per stage, over completed requests: mean ms and share of the mean end-to-end latency."""
    ok = [r for r in records if r.error is None and all(s in r.stages for s in STAGES)]
    if not ok:
        return {}
    e2e = sum(sum(r.stages.values()) for r in ok)
    return {s: {"mean_ms": 1e3 * sum(r.stages[s] for r in ok) / len(ok),
                "share": sum(r.stages[s] for r in ok) / e2e if e2e > 0 else 0.0} for s in STAGES}
