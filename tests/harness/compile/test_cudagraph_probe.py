"""CUDA-graph observability: recordings (re-recordings), skips with their reasons, graph pool memory,
and the steady-window gate. On CPU the watch is fed the events CUDA graph trees emit (the real
callback trigger, logger and skip function of torch._inductor); on a GPU a decode step fed a new
shape warms up for real (its first call runs without a graph) and fails the window, naming it."""

import logging

import pytest
import torch
from torch._dynamo.callback import CallbackTrigger, callback_handler
from torch._inductor import cudagraph_trees
from torch._inductor.cudagraph_utils import log_cudagraph_skip_and_bump_counter

from ragperf.compile.cudagraphs import LOGGERS, CudaGraphInSteadyState, CudaGraphWatch, steady_graphs
from ragperf.compile.probe import CompileProbe, RecompileInSteadyState, steady_decode

NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA graphs need one")


def _record(function="forward", inputs="[(4, 64)]"):
    """What cudagraph_trees does when it records a graph (CUDAGraphTreeManager.record_function)."""
    with callback_handler.install_callbacks(CallbackTrigger.CUDAGRAPH_RECORDING, "0/0"):
        cudagraph_trees.log.debug("[%s] Recording function=%s, mode=%s, cuda_graph_id=%d, inputs: %s",
                                  "0/0", function, "INFERENCE", 7, inputs)


def test_watch_counts_recordings_and_skips_with_reasons():
    with CudaGraphWatch() as watch:
        _record()
        log_cudagraph_skip_and_bump_counter("skipping cudagraphs due to mutated inputs (1 instances)")
    report = watch.report
    assert report.recordings == 1 and report.recorded == ["Recording function=forward, mode=INFERENCE, "
                                                          "cuda_graph_id=7, inputs: [(4, 64)]"]
    assert report.skips == 1 and report.skip_reasons == ["skipping cudagraphs due to mutated inputs (1 instances)"]
    assert "1 recorded, 0 warmed up, 1 skipped" in report.summary()


def test_watch_sees_only_its_block_and_restores_the_loggers():
    before = [(logging.getLogger(n).level, logging.getLogger(n).propagate, list(logging.getLogger(n).handlers))
              for n in LOGGERS]
    _record()
    with CudaGraphWatch() as watch:
        pass
    _record()
    assert watch.report.recordings == 0 and watch.report.skips == 0 and not watch.report.active
    after = [(logging.getLogger(n).level, logging.getLogger(n).propagate, list(logging.getLogger(n).handlers))
             for n in LOGGERS]
    assert after == before


def test_steady_window_fails_on_a_recording_with_its_inputs():
    with pytest.raises(CudaGraphInSteadyState, match=r"1 recorded.*\n.*inputs: \[\(8, 64\)\]"):
        with steady_graphs():
            _record(inputs="[(8, 64)]")


def test_steady_window_fails_on_a_warmup_of_a_new_shape():
    """CUDAGraphTreeManager.run_eager's line for a function it has not seen: its kernels ran one by one."""
    with pytest.raises(CudaGraphInSteadyState, match=r"1 warmed up, 0 recorded.*\n.*warm-up without a graph.*"
                                                       r"Running warmup function=forward"):
        with steady_graphs():
            cudagraph_trees.log.debug("[%s] Running warmup function=%s, mode=%s", "0/1", "forward", "INFERENCE")


def test_steady_window_fails_on_a_skip_with_its_reason():
    with pytest.raises(CudaGraphInSteadyState, match="skipped: skipping cudagraphs due to cpu device"):
        with steady_decode():
            log_cudagraph_skip_and_bump_counter("skipping cudagraphs due to cpu device")


def test_probe_carries_the_cudagraph_report():
    compiled = torch.compile(lambda x: torch.relu(x) + 1, backend="eager")
    with CompileProbe() as probe:
        compiled(torch.ones(3))
        _record()
    assert probe.report.graphs == 1 and probe.report.cudagraphs.recordings == 1
    assert "cudagraphs: 1 recorded" in probe.report.summary()
    assert probe.report.to_dict()["cudagraphs"]["recordings"] == 1
    if not torch.cuda.is_available():
        assert probe.report.cudagraphs.pool_bytes is None


@pytest.mark.gpu
@NO_CUDA
def test_planted_rerecord_of_a_decode_step_fails_the_steady_window():
    """A decode step compiled dynamic=True with reduce-overhead: a new batch size needs no recompile, but
    CUDA graph trees treat it as a new function: its first call is a warm-up that runs without a graph,
    the next records one - the silent slowdown. The window names the warm-up (torch 2.11 on an H200: the
    first call of batch 7 neither recompiled nor recorded)."""
    from ragperf.models.decoders import load_decoder
    from ragperf.models.reference_llama import from_hf

    reference = from_hf(load_decoder("tiny-llama", device="cuda").model)
    step = torch.compile(reference, mode="reduce-overhead", dynamic=True, fullgraph=True)
    caches = {}

    def decode(batch):
        cache = caches.setdefault(batch, reference.new_cache(batch, 16))
        ids = torch.ones(batch, 1, dtype=torch.long, device="cuda")
        return step(ids, torch.tensor([3], device="cuda"), cache).argmax(-1)

    with torch.inference_mode():
        with CompileProbe() as warm:
            for batch in (2, 3, 5):
                for _ in range(3):  # warm-up, record, replay
                    decode(batch)
        assert warm.report.cudagraphs.recordings >= 3, warm.report.summary()
        assert warm.report.cudagraphs.pool_bytes and warm.report.cudagraphs.pool_bytes > 0, warm.report.summary()
        with steady_decode():  # captured sizes only replay
            decode(3)
            decode(5)
        try:
            with steady_decode():
                decode(7)
        except CudaGraphInSteadyState as exc:
            assert "Running warmup function=" in str(exc) or "Recording function=" in str(exc), str(exc)
        except RecompileInSteadyState as exc:
            pytest.fail(f"expected a CUDA-graph warm-up or recording without a recompile, got a recompile: {exc}")
        else:
            pytest.fail("a new batch size in the steady window neither recompiled, warmed up nor recorded")


@pytest.mark.gpu
@NO_CUDA
def test_a_kv_cache_at_new_addresses_fails_the_steady_window():
    """The static modes keep one KV cache per shape because CUDA graphs read it in place: a fresh cache
    (new addresses, same shape) makes the tree re-record. Planted by replacing the kept caches while the old
    ones stay alive, so that the caching allocator cannot hand their freed blocks - the same addresses - to
    the new cache."""
    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.generation import build_generator

    decoder = load_decoder("tiny-llama", device="cuda", dtype=torch.bfloat16)
    generator = build_generator(decoder, "static-cudagraphs")
    prompt = random_prompts(decoder, 1, 7)
    for _ in range(2):  # compile, record
        generator.generate(prompt, 6)
    with steady_decode():
        generator.generate(prompt, 6)  # the kept cache: replays only
    stale = dict(generator._caches)  # held: the new cache cannot reuse their memory
    generator._caches.clear()
    with pytest.raises((CudaGraphInSteadyState, RecompileInSteadyState)) as failure:
        with steady_decode():
            generator.generate(prompt, 6)
    assert "recorded" in str(failure.value) or "guard failure" in str(failure.value), str(failure.value)
    assert all(generator._caches[k] is not stale[k] for k in stale)
