"""The LLM endpoint: ``POST /generate {"prompt": str, "max_tokens": int}`` -> greedy tokens as server-sent events.

The seed's second service (Llama behind TorchServe) rebuilt from ragperf's own decode loop
(:func:`ragperf.models.generation.build_generator` in a decode mode of :mod:`ragperf.models.decode_modes`).

Guarantees:

- Each token is sent as an event the moment the loop chooses it (``data: {"index": i, "token": id}``), so a
  client sees time to first token; the stream ends with ``data: {"done": true, "tokens": n, ...}``, or with
  ``data: {"error": ...}`` when the generation failed (a recompile under load names itself, as on ``/retrieve``).
- A request the endpoint cannot serve gets a 4xx with a one-line ``{"error": ...}`` before any token: not a
  JSON object (400), ``prompt`` not a non-empty string (422) or holding a lone surrogate (400),
  ``max_tokens`` (default 16, or the bound when lower) not an integer in ``1..bound`` (422), prompt plus ``max_tokens`` past the
  decoder's context (400).
- A static-family mode (``static-cudagraphs``: decode captured as CUDA graphs on ``device`` cuda) sizes its
  KV cache to the smallest length bucket (:func:`ragperf.models.generation.length_buckets` of the served
  context) holding prompt + ``max_tokens``: one decode graph per bucket, every bucket compiled, captured and
  warmed before the first request, so prompts of any length are served with no recompile and no CUDA-graph
  re-recording (``/stats`` counts both; either under load is an error).
- One generation at a time per worker, on one thread of its own (the seed's batch-1 worker; compiled and
  warmed on that thread): requests queue in arrival order, so waiting shows in their time to first token.
- A client that disconnects stops its generation at the next token (or before it starts, if still queued);
  ``active`` in the worker's stats counts generations started and not yet over, and returns to 0.

Prompts are byte tokens (a BOS id, then each UTF-8 byte + 1): the dummy decoders need no real text, and a
prompt of n bytes is exactly n + 1 tokens on every decoder of 258 or more ids.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from ragperf.errors import RagperfError
from ragperf.serve.http import BadRequest, int_field, json_errors, json_object, refusal, text_field
from ragperf.serve.retriever import WorkerConfig

EXAMPLE = '{"prompt": "...", "max_tokens": 16}'
MAX_PROMPT_CHARS = 65536  # the body limit binds first; the context check decides
SERVED_FAMILIES = ("paper", "static")  # a reference mode keeps its own cache per length: one graph per length
CONTEXT = 2048  # the longest prompt + max_tokens served (at most the decoder's context)
BOS = 0


@dataclass(frozen=True)
class GenerateConfig(WorkerConfig):
    """What one LLM server serves: ``decoder`` in decode ``mode`` on ``device``, ``workers`` x ``threads``, at
    most ``max_tokens`` new tokens a request and ``context`` tokens in all (the decoder's context when lower)."""

    decoder: str
    mode: str
    workers: int = 1
    threads: int = 1
    backend: str = "inductor"
    max_tokens: int = 64
    header_timeout_s: float = 10.0  # a connection's request head must arrive within this
    device: str = "cpu"
    context: int = CONTEXT
    FACTORY: ClassVar[str] = "ragperf.serve.worker:create_generate_app"



def check_mode(name: str) -> None:
    """RagperfError unless decode mode ``name`` can be served (one graph set for every prompt length)."""
    from ragperf.models import decode_modes

    chosen = decode_modes.mode(name)
    if chosen.family not in SERVED_FAMILIES:
        raise RagperfError(f"decode mode {name!r} sizes its KV cache per prompt length and would compile per "
                           f"request; serve one of {', '.join(decode_modes.names(*SERVED_FAMILIES))}")


def prompt_tokens(prompt: str) -> list[int]:
    """Byte tokens of ``prompt``: BOS, then each UTF-8 byte + 1."""
    return [BOS, *(b + 1 for b in prompt.encode("utf-8"))]


def parse_generate(body: bytes, context: int, max_tokens: int) -> tuple[list[int], int]:
    """The (prompt tokens, max_tokens) of a request body, or :class:`BadRequest` with the one-line reason."""
    data = json_object(body, EXAMPLE)
    prompt = text_field(data, "prompt", MAX_PROMPT_CHARS)
    wanted = int_field(data, "max_tokens", min(16, max_tokens), 1, max_tokens)
    ids = prompt_tokens(prompt)
    if len(ids) + wanted > context:
        raise BadRequest(400, f"the prompt is {len(ids)} tokens; with max_tokens {wanted} that passes the "
                              f"decoder's context of {context} tokens: shorten it or ask for fewer tokens")
    return ids, wanted


class _Stopped(Exception):
    """The client left: the generation ends at this token."""


class Engine:
    """A decoder in one decode mode on one thread of its own: :meth:`run` streams one generation."""

    def __init__(self, config: GenerateConfig) -> None:
        self.config = config
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragperf-generate")
        self.ready_graphs = self.ready_recordings = 0
        self.executor.submit(self._load).result()

    def _load(self) -> None:
        import torch

        from ragperf.compile.cudagraphs import RecordingCount
        from ragperf.models.decoders import load_decoder
        from ragperf.models.generation import build_generator, length_buckets

        check_mode(self.config.mode)
        torch.set_num_threads(self.config.threads)
        dtype = torch.bfloat16 if self.config.device == "cuda" else torch.float32  # as the GPU bench decodes
        self.decoder = load_decoder(self.config.decoder, device=self.config.device, dtype=dtype)
        if self.decoder.vocab_size < 258:
            raise RagperfError(f"{self.config.decoder} has {self.decoder.vocab_size} token ids; byte prompts need 258")
        self.context = min(int(self.decoder.config.max_position_embeddings), self.config.context)
        if self.context < 8 + self.config.max_tokens:
            raise RagperfError(f"max_tokens bound {self.config.max_tokens} leaves no prompt room in "
                               f"{self.config.decoder}'s context of {self.context}")
        self.generator = build_generator(self.decoder, self.config.mode, backend=self.config.backend)
        if self.generator.reuse_cache:  # a static KV cache (reference modes are refused by check_mode)
            self.generator.cache_lengths = length_buckets(self.context)
        self.cudagraph_recordings = RecordingCount().register()
        self._warm()
        torch.compiler.set_stance("fail_on_recompile")  # from here on a recompile is an error, not a stall

    def _warm(self) -> None:
        """Every prompt length class (a static cache: every length bucket) and token count the endpoint takes,
        until warm-up compiles nothing."""
        from ragperf.perf.timing import compile_count, warm_up

        counts = (1, 2, self.config.max_tokens)
        if self.generator.cache_lengths:  # the longest prompt of each bucket, so each bucket is compiled
            shapes = {(b - t, t) for b in self.generator.cache_lengths for t in counts if b - t >= 2}
        else:
            shapes = {(n, t) for n in (2, 3, 17, self.context - self.config.max_tokens) for t in counts}
        warm_up({f"{n}x{t}": (lambda n=n, t=t: self._generate([BOS] + [66] * (n - 1), t)) for n, t in shapes})
        self.ready_graphs = compile_count()
        self.ready_recordings = self.cudagraph_recordings.count

    def _generate(self, ids: list[int], new_tokens: int, on_token=None):
        import torch

        prompt = torch.tensor([ids], dtype=torch.long, device=self.decoder.device)
        return self.generator.generate(prompt, new_tokens, on_token=on_token)

    def graphs_since_ready(self) -> int:
        from ragperf.perf.timing import compile_count

        return compile_count() - self.ready_graphs

    def cudagraphs_since_ready(self) -> int:
        """CUDA graphs recorded after warm-up: every one is a re-recording (0 where no graph runs)."""
        return self.cudagraph_recordings.count - self.ready_recordings

    def run(self, ids: list[int], new_tokens: int, emit, cancelled: threading.Event) -> str:
        """Generate on the engine's thread, ``emit(token id)`` per token; ``"stopped"`` when ``cancelled`` was
        set (before or during), else ``"done"``. An error propagates."""
        if cancelled.is_set():
            return "stopped"

        def on_token(token) -> None:
            if cancelled.is_set():
                raise _Stopped
            emit(int(token[0, 0]))

        try:
            self._generate(ids, new_tokens, on_token)
        except _Stopped:
            return "stopped"
        return "done"


def build_generate_app(engine: Engine, on_change=None):
    """The Starlette app over a loaded, warmed ``engine``; ``on_change(stats)`` runs whenever the worker's
    stats change (a generation starts or ends, an error, a recompile)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    stats = {"served": 0, "errors": 0, "recompiles": 0, "cudagraph_rerecords": 0, "active": 0, "stopped": 0,
             "last_error": None}

    def changed() -> None:
        stats["recompiles"] = max(stats["recompiles"], engine.graphs_since_ready())
        stats["cudagraph_rerecords"] = engine.cudagraphs_since_ready()
        if on_change is not None:
            on_change(dict(stats))

    def failed(reason: str, recompile: bool = False) -> None:
        stats["errors"] += 1
        stats["recompiles"] += int(recompile)
        stats["last_error"] = reason
        changed()

    async def generate(request: Request):
        try:
            ids, new_tokens = parse_generate(await request.body(), engine.context, engine.config.max_tokens)
        except BadRequest as exc:
            return refusal(exc)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        stats["active"] += 1
        changed()
        job = loop.run_in_executor(engine.executor, engine.run, ids, new_tokens,
                                   lambda token: loop.call_soon_threadsafe(events.put_nowait, token), cancelled)

        def over(done: asyncio.Future) -> None:
            stats["active"] -= 1
            if done.exception() is not None:
                reason = (str(done.exception()).strip().splitlines() or [type(done.exception()).__name__])[0]
                recompile = "recompil" in reason.lower()
                failed(f"{'recompile under load: ' if recompile else ''}{reason}", recompile)
                events.put_nowait({"error": stats["last_error"]})
                return
            stats["served" if done.result() == "done" else "stopped"] += 1
            changed()
            events.put_nowait({"done": True, "tokens": new_tokens, "prompt_tokens": len(ids)})

        job.add_done_callback(over)

        async def stream():
            index = 0
            try:
                while True:
                    item = await events.get()
                    if isinstance(item, dict):
                        yield f"data: {json.dumps(item)}\n\n"
                        return
                    yield f"data: {json.dumps({'index': index, 'token': item})}\n\n"
                    index += 1
            finally:
                cancelled.set()  # the client left (or the stream is over): stop at the next token

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready", "context": engine.context, "max_tokens": engine.config.max_tokens,
                             "cache_lengths": list(engine.generator.cache_lengths)})

    async def show_stats(request: Request) -> JSONResponse:
        return JSONResponse(stats)

    return Starlette(routes=[Route("/generate", generate, methods=["POST"]), Route("/health", health),
                             Route("/stats", show_stats)],
                     exception_handlers=json_errors(lambda reason: failed(reason)))
