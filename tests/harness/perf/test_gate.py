"""Gate decisions on synthetic, seeded samples: A/A stays green, planted slowdowns go red, noise is respected."""

import argparse

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragperf.perf import baselines, gate, timing
from ragperf.perf.baselines import BaselineFile
from ragperf.perf.metrics import SPEEDUP


def samples(ratio, noise, rounds=60, seed=0, eager_s=0.010):
    """Eager and candidate seconds per round; a shared per-round load factor hits both arms of a round."""
    rng = np.random.default_rng(seed)
    load = rng.lognormal(0, 0.3, rounds)  # big, shared: interleaving must cancel it
    eager = eager_s * load * rng.lognormal(0, noise, rounds)
    cand = eager_s / ratio * load * rng.lognormal(0, noise, rounds)
    return timing.Samples("eager", list(eager)), timing.Samples("candidate", list(cand))


def measured(ratio, noise, seed=0, name="embed/m/compile/speedup"):
    e, c = samples(ratio, noise, seed=seed)
    s = timing.speedup(e, c, seed=seed)
    return gate.Measurement(name, "speedup", s.ratio, s.se, s.low, s.high)


def baseline_of(m: gate.Measurement, **extra) -> BaselineFile:
    return BaselineFile("k", "measured", {}, {m.name: baselines.metric(m.kind, m.value, m.se, **extra)})


def test_speedup_cancels_shared_load_and_reports_a_tight_interval():
    e, c = samples(1.5, 0.01)
    s = timing.speedup(e, c)
    assert 1.47 < s.ratio < 1.53
    assert s.low <= s.ratio <= s.high and s.se < 0.01


def test_a_a_runs_stay_green():
    base = baseline_of(measured(1.5, 0.02, seed=100))
    statuses = [gate.gate({"embed/m/compile/speedup": measured(1.5, 0.02, seed=s)}, base)[0].status
                for s in range(20)]
    assert statuses.count(gate.PASS) >= 19, statuses


@pytest.mark.parametrize("slowdown", [0.10, 0.20])
def test_planted_slowdown_is_caught_and_named(slowdown):
    base = baseline_of(measured(1.5, 0.02, seed=100))
    d = gate.gate({"embed/m/compile/speedup": measured(1.5 / (1 + slowdown), 0.02, seed=1)}, base)[0]
    assert d.status == gate.FAIL
    shown_base = f"baseline {base.metrics[d.metric]['value']:.3f}x"
    for part in ("embed/m/compile/speedup", shown_base, d.measured.shown(), "95% CI", "below", "allowed"):
        assert part in d.message, part


def test_drop_inside_the_noise_warns_and_does_not_fail():
    base = baseline_of(gate.Measurement("embed/m/compile/speedup", "speedup", 1.5, 0.04))  # run-to-run spread
    m = gate.Measurement("embed/m/compile/speedup", "speedup", 1.5 * 0.92, 0.01, 1.36, 1.40)
    d = gate.gate({m.name: m}, base)[0]
    assert d.status == gate.WARN and d.bound > 0.08 and "inside the noise" in d.message
    worse = gate.Measurement(m.name, "speedup", 1.5 * 0.85, 0.01)
    assert gate.gate({m.name: worse}, base)[0].status == gate.FAIL


def test_a_run_too_noisy_to_tell_is_inconclusive():
    base = baseline_of(gate.Measurement("embed/m/compile/speedup", "speedup", 1.5, 0.01))
    noisy = gate.Measurement("embed/m/compile/speedup", "speedup", 1.5 * 0.80, 0.06, 1.0, 1.6)
    d = gate.gate({noisy.name: noisy}, base)[0]
    assert d.status == gate.INCONCLUSIVE and "re-measure" in d.message
    fine = gate.Measurement(noisy.name, "speedup", 1.5, 0.06)
    assert gate.gate({noisy.name: fine}, base)[0].status == gate.PASS


def test_tolerance_applies_when_noise_is_small():
    base = baseline_of(gate.Measurement("x/speedup", "speedup", 2.0, 0.001))
    assert gate.judge(gate.Measurement("x/speedup", "speedup", 1.92, 0.001), base.metrics["x/speedup"]).status == gate.PASS
    assert gate.judge(gate.Measurement("x/speedup", "speedup", 1.88, 0.001), base.metrics["x/speedup"]).status == gate.FAIL
    loose = baselines.metric("speedup", 2.0, 0.001, tolerance=0.10)
    assert gate.judge(gate.Measurement("x/speedup", "speedup", 1.88, 0.001), loose).status == gate.PASS
    # an explicit tolerance (--ragperf-tolerance) beats the stored one, both ways
    assert gate.judge(gate.Measurement("x/speedup", "speedup", 1.88, 0.001), loose, tolerance=0.05).status == gate.FAIL
    assert gate.judge(gate.Measurement("x/speedup", "speedup", 1.92, 0.001), base.metrics["x/speedup"],
                      tolerance=0.03).status == gate.FAIL


@pytest.mark.parametrize("text", ["0", "1", "-0.1", "5%", "five"])
def test_tolerance_option_rejects_what_is_not_a_fraction(text):
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        gate.fraction(text)


@pytest.mark.parametrize("change, status", [(0.02, gate.PASS), (0.08, gate.WARN), (0.20, gate.FAIL),
                                            (-0.30, gate.PASS)])
def test_absolute_latency_fails_only_on_large_changes(change, status):
    base = baselines.metric("latency", 0.010, 0.005)
    m = gate.Measurement("x/median_s", "latency", 0.010 * (1 + change), 0.005)
    assert gate.judge(m, base).status == status


def test_noisy_large_latency_change_is_inconclusive():
    assert gate.judge(gate.Measurement("x/median_s", "latency", 0.012, 0.08),
                      baselines.metric("latency", 0.010, 0.0)).status == gate.INCONCLUSIVE


def test_no_baseline_is_report_only_with_a_clear_message():
    m = measured(1.5, 0.02)
    decisions = gate.gate({m.name: m}, None)
    assert [d.status for d in decisions] == [gate.REPORT]
    assert "ragperf baseline record" in decisions[0].message
    assert gate.overall(decisions) == gate.REPORT
    other = BaselineFile("k", "measured", {}, {})
    assert gate.gate({m.name: m}, other)[0].status == gate.REPORT


def test_confirm_remeasures_a_suspect_once_and_the_second_judgement_stands():
    base = baseline_of(measured(1.5, 0.02, seed=100))
    slow = {"embed/m/compile/speedup": measured(1.3, 0.02, seed=1)}
    calls = []

    def again(value):
        def remeasure():
            calls.append(value)
            return {"embed/m/compile/speedup": measured(value, 0.02, seed=2)}
        return remeasure

    fine = gate.confirm(gate.gate(slow, base), base, again(1.5))
    assert [d.status for d in fine] == [gate.PASS] and fine[0].attempts == 2
    still = gate.confirm(gate.gate(slow, base), base, again(1.3))
    assert [d.status for d in still] == [gate.FAIL] and "fresh process" in still[0].message
    green = gate.gate({"embed/m/compile/speedup": measured(1.5, 0.02, seed=3)}, base)
    assert gate.confirm(green, base, again(1.0)) == green
    assert calls == [1.5, 1.3]


def test_inconclusive_twice_fails_as_too_noisy():
    base = baseline_of(gate.Measurement("x/speedup", "speedup", 1.5, 0.01))
    noisy = {"x/speedup": gate.Measurement("x/speedup", "speedup", 1.38, 0.06)}
    final = gate.confirm(gate.gate(noisy, base), base, lambda: noisy)
    assert final[0].status == gate.FAIL and "too noisy" in final[0].message


def test_table_lists_every_metric_vs_its_baseline():
    base = baseline_of(measured(1.5, 0.02, seed=100))
    decisions = gate.gate({"embed/m/compile/speedup": measured(1.2, 0.02)}, base)
    for markdown in (False, True):
        text = gate.table(decisions, markdown=markdown)
        assert "embed/m/compile/speedup" in text and "FAIL" in text and "1.496x" in text and "-19.7%" in text
    assert gate.table(decisions, markdown=True).startswith("| metric |")


@given(value=st.floats(1.0, 3.0), se=st.floats(0.0, 0.2), gain=st.floats(0.0, 1.0))
def test_a_speedup_at_or_above_its_baseline_never_fails(value, se, gain):
    base = baselines.metric("speedup", value, se)
    assert gate.judge(gate.Measurement("x", "speedup", value * (1 + gain), se), base).status == gate.PASS


def test_cli_summary_renders_a_pytest_gate_report_as_markdown(tmp_path, capsys):
    from ragperf.cli import main
    from ragperf.perf.machine import fingerprint
    from ragperf.perf.plugin import report_json

    base = baseline_of(measured(1.5, 0.02, seed=100))
    decisions = gate.gate({"embed/m/compile/speedup": measured(1.2, 0.02)}, base)
    report = tmp_path / "gate.json"
    report.write_text(__import__("json").dumps(report_json(decisions, fingerprint(), base)))
    assert main(["baseline", "summary", str(report), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### ragperf perf gate: FAIL") and "| embed/m/compile/speedup | FAIL |" in out
    report.write_text('{"verdict": "PASS"}')
    assert main(["baseline", "summary", str(report)]) == 2
    assert "not a ragperf gate report" in capsys.readouterr().err


def test_per_process_figures_combine_as_the_median_with_the_between_process_spread():
    from scipy.stats import median_abs_deviation

    from ragperf.perf import processes

    speedups = [1.46, 1.47, 1.56, 1.45, 1.50]
    runs = [{"speedup": s, "speedup_se": 0.002, "median_s": 0.01 * s, "latency_se": 0.01, "eager_median_s": 0.015,
             "recompiles_while_timed": 0, "speedup_low": s, "speedup_high": s, "case": "c"} for s in speedups]
    combined = processes.combine(runs)
    sd = median_abs_deviation(speedups, scale="normal") / 1.47
    assert combined["speedup"] == 1.47 and combined["speedup_process_sd"] == pytest.approx(sd)
    assert combined["speedup_se"] == pytest.approx(1.2533 * sd / 5 ** 0.5, rel=1e-3)  # not the 0.2% within-run se
    assert [p["speedup"] for p in combined["processes"]] == speedups
    agreeing = processes.combine([dict(r, speedup=1.47) for r in runs])
    assert agreeing["speedup_se"] == pytest.approx(0.002 / 5 ** 0.5)  # the within-run floor
    m = gate.from_figures("embed/m/compile", combined)["embed/m/compile/speedup"]
    assert m.processes == speedups and m.value == 1.47


def test_a_median_of_processes_is_judged_with_the_baselines_stored_between_process_spread():
    base = baselines.metric("speedup", 1.5, 0.004, process_sd=0.04)
    m = gate.Measurement("x/speedup", "speedup", 1.5 * 0.9, 0.001, processes=[1.35] * 4)
    d = gate.judge(m, base)
    noise = (1.2533 * 0.04 / 2) ** 2 + 0.004 ** 2
    assert d.bound == pytest.approx(max(SPEEDUP.process_tolerance, SPEEDUP.process_z * noise ** 0.5), rel=1e-3)
    one = gate.judge(gate.Measurement("x/speedup", "speedup", 1.5 * 0.9, 0.001), base)  # no processes: its own se
    assert one.bound == pytest.approx(max(SPEEDUP.tolerance, SPEEDUP.z * (0.001 ** 2 + 0.004 ** 2) ** 0.5))


def test_the_drift_between_a_baselines_recordings_enters_every_run_undivided():
    """A baseline whose recordings moved 3% between sessions: a 5% drop of a median of 5 processes is inside
    that drift (WARN), while the same drop against recordings that agreed is a FAIL."""
    base = baselines.metric("speedup", 1.5, 0.004, process_sd=0.01, session_sd=0.03)
    m = gate.Measurement("x/speedup", "speedup", 1.5 * 0.95, 0.001, processes=[1.425] * 5)
    d = gate.judge(m, base)
    noise = ((1.2533 * 0.01 / 5 ** 0.5) ** 2 + 0.03 ** 2 + 0.004 ** 2) ** 0.5
    assert d.bound == pytest.approx(SPEEDUP.process_z * noise, rel=1e-3) and d.status == gate.WARN
    assert gate.judge(m, {**base, "session_sd": 0.0}).status == gate.FAIL


def test_a_five_percent_slowdown_of_a_median_of_processes_fails_and_a_a_stays_green():
    """Seeded per-process draws (1.5% between-process spread, the idle-VM figure): judged with the
    process rule (tolerance 3%, 2 x noise) and confirmed on the pooled 2N processes."""
    rng = np.random.default_rng(7)
    history = [list(1.5 * (1 + 0.015 * rng.standard_normal(3))) for _ in range(5)]
    base = BaselineFile("k", "measured", {}, {})
    for run in history:
        base.metrics["x/speedup"] = baselines.with_history(base.metrics.get("x/speedup"), baselines.metric(
            "speedup", float(np.median(run)), 0.01, processes=run))

    def run(slowdown):
        values = list(1.5 / (1 + slowdown) * (1 + 0.015 * rng.standard_normal(3)))
        return {"x/speedup": gate.Measurement("x/speedup", "speedup", float(np.median(values)), 0.01,
                                              processes=values)}

    def verdicts(slowdown, n):
        return [gate.confirm(gate.gate(run(slowdown), base), base, lambda: run(slowdown))[0].status
                for _ in range(n)]

    assert verdicts(0.0, 40).count(gate.FAIL) <= 1
    caught = verdicts(0.05, 20)
    assert caught.count(gate.FAIL) >= 18, caught
    second = gate.confirm(gate.gate(run(0.05), base), base, lambda: run(0.05))[0]
    assert second.attempts == 2 and len(second.measured.processes) == 6  # pooled: 3 + 3 processes


def test_planted_compile_slowdown_spins_its_fraction_of_the_compile_and_is_removed_after():
    """With Inductor: torch.compile(backend="inductor") bypasses the backend registry, where an earlier plant
    sat - and spun nothing, unseen until a 90-compile campaign measured planted and A/A runs alike."""
    import time

    import torch
    from torch._dynamo.output_graph import OutputGraph
    from torch._dynamo.utils import compilation_time_metrics

    from ragperf.perf import compile_time

    before = OutputGraph._call_user_compiler
    started = [time.perf_counter()]
    with compile_time.planted(3.0, started) as spun:
        fn = torch.compile(lambda x: torch.sin(x) + 1, backend="inductor")
        compilation_time_metrics.clear()
        started[0] = time.perf_counter()
        fn(torch.ones(3))
        total = time.perf_counter() - started[0]
    backend_s = sum(compilation_time_metrics["OutputGraph.call_user_compiler"])
    # bounds that hold at any machine load: it spun, inside the backend's timer, and no more than 3 x the
    # compile time it saw (which is at most the first call's time without the spin)
    assert 0 < spun[0] <= backend_s
    assert spun[0] <= 3.0 * (total - spun[0])
    assert OutputGraph._call_user_compiler is before


def test_planted_compile_slowdown_owes_its_fraction_of_the_whole_first_call():
    """Time after the last graph (here all of it: no graph at all) is owed when the call returns, so the first
    call is at least ``slowdown`` slower than its work - spinning per graph only delivered ~6% of a planted 10%."""
    import time

    from ragperf.perf import compile_time

    worked = []

    def call():
        start = time.perf_counter()
        time.sleep(0.05)
        worked.append(time.perf_counter() - start)

    out = compile_time.first_call(call, slowdown=0.5)
    assert out["first_call_s"] >= 1.5 * worked[0]


@pytest.mark.parametrize("change, status", [(0.02, gate.PASS), (0.10, gate.FAIL), (-0.2, gate.PASS)])
def test_compile_seconds_fail_on_a_ten_percent_increase_beyond_the_noise(change, status):
    base = baselines.metric("compile", 20.0, 0.005, process_sd=0.02)
    m = gate.Measurement("x/cold_compile_s", "compile", 20.0 * (1 + change), 0.01, processes=[20.0 * (1 + change)] * 3)
    d = gate.judge(m, base)
    assert d.status == status and "allowed +5.0%" in d.message


def test_a_report_only_case_is_judged_and_shown_but_never_fails():
    from types import SimpleNamespace

    from ragperf.perf.plugin import PerfGate

    state = PerfGate.__new__(PerfGate)
    state.update, state.rules, state.decisions, state._loaded = False, {"tolerance": None}, [], True
    state._baseline = baseline_of(measured(1.5, 0.01, seed=100))
    state.config = SimpleNamespace()
    slow = {"embed/m/compile/speedup": measured(1.0, 0.01, seed=1)}
    decisions = state.check(slow, report_only=dict.fromkeys(slow, "too noisy here"))
    assert [d.status for d in decisions] == [gate.REPORT]
    assert "[FAIL; report only: too noisy here]" in decisions[0].message


def test_a_deployed_gpu_decode_mode_shows_its_speedup_and_gates_its_latency():
    """Its eager side is host-bound, so only the speedup is report-only; a slower compiled generation still
    fails. A CPU decode case keeps both gated; host-bound CUDA cases show their latency instead."""
    from types import SimpleNamespace

    from ragperf.perf.cases import HOST_BOUND_CALLS, HOST_BOUND_EAGER, Case
    from ragperf.perf.plugin import PerfGate

    case = Case("decode", "llama-3.2-1b", "static-max-autotune", device="cuda", dtype="bfloat16")
    speedup, latency = f"{case.prefix}/speedup", f"{case.prefix}/median_s"
    assert case.report_only() == {speedup: HOST_BOUND_EAGER}
    assert Case("decode", "llama-3.2-1b", "static-max-autotune").report_only() == {}
    hf_dynamic = Case("decode", "gpt2", "compile-decode", device="cuda")
    assert hf_dynamic.report_only() == {f"{hf_dynamic.prefix}/median_s": HOST_BOUND_CALLS}
    embed = Case("embed", "minilm", "compile+reduce-overhead", device="cuda")
    assert embed.report_only() == {f"{embed.prefix}/median_s": HOST_BOUND_CALLS}

    state = PerfGate.__new__(PerfGate)
    state.update, state.rules, state.decisions, state._loaded = False, {"tolerance": None}, [], True
    state.config = SimpleNamespace()
    state._baseline = BaselineFile("k", "measured", {}, {
        speedup: baselines.metric("speedup", 10.8, 0.01), latency: baselines.metric("latency", 0.094, 0.01)})
    fine = {speedup: gate.Measurement(speedup, "speedup", 7.8, 0.01),  # the eager side slowed, not the mode
            latency: gate.Measurement(latency, "latency", 0.094, 0.01)}
    decisions = state.check(fine, report_only=case.report_only())
    assert [d.status for d in decisions] == [gate.REPORT, gate.PASS]
    assert "[FAIL; report only: its eager side is HF decode" in decisions[0].message
    slower = {**fine, latency: gate.Measurement(latency, "latency", 0.094 * 1.3, 0.01)}
    with pytest.raises(pytest.fail.Exception, match="median_s: latency"):
        state.check(slower, report_only=case.report_only())


@pytest.mark.parametrize(("kind", "model", "variant", "device", "bound"), [
    ("embed", "minilm", "compile", "cpu", "device"),
    ("decode", "tiny-llama", "compile-decode", "cpu", "device"),
    ("decode", "llama-3.2-1b", "static-cudagraphs", "cpu", "device"),
    ("embed", "minilm", "compile", "cuda", "host"),
    ("embed", "minilm", "compile+max-autotune", "cuda:0", "host"),
    ("decode", "gpt2", "compile-decode", "cuda", "host"),
    ("decode", "llama-3.2-1b", "compile-prefill-decode", "cuda", "host"),
    ("decode", "llama-3.2-1b", "reference-eager", "cuda", "host"),  # the reference without CUDA graphs
    ("decode", "llama-3.2-1b", "static-cudagraphs", "cuda", "gpu"),
    ("decode", "llama-3.2-1b", "static-max-autotune", "cuda", "gpu"),
    ("decode", "llama-3.2-1b", "reference-cudagraphs", "cuda", "gpu"),
    ("decode", "llama-3.2-1b", "reference-max-autotune", "cuda:1", "gpu"),
])
def test_each_case_says_what_bounds_it_and_gates_the_figure_that_holds(kind, model, variant, device, bound):
    """Off CUDA both figures are gated; host-bound CUDA cases gate their speedup, GPU-bound ones their compiled
    time; the figure not gated is shown with the reason, and every metric of the case is one or the other."""
    from ragperf.perf.cases import Case

    case = Case(kind, model, variant, device=device)
    figures = {"speedup": 2.0, "speedup_se": 0.01, "speedup_low": 1.9, "speedup_high": 2.1, "median_s": 0.01,
               "latency_se": 0.0001}
    metrics = set(case.measurements(figures))
    shown = case.report_only()
    gated = {f"{case.prefix}/{figure}" for figure in case.binding.gated}
    assert case.binding.bound == bound
    assert gated | set(shown) == metrics and not gated & set(shown)
    assert {"device": 2, "host": 1, "gpu": 1}[bound] == len(gated)
    assert all(reason and "host-bound" in reason for reason in shown.values())
    if bound == "host":
        assert set(shown) == {f"{case.prefix}/median_s"}
    if bound == "gpu":
        assert set(shown) == {f"{case.prefix}/speedup"}


def test_a_host_bound_cuda_case_passes_on_a_slower_host_and_fails_when_its_speedup_drops():
    """The embedder on a second H100: median +43% (the host), speedup within noise -> no failure; a compiled
    path that lost 30% of its speedup still fails."""
    from types import SimpleNamespace

    from ragperf.perf.cases import HOST_BOUND_CALLS, Case
    from ragperf.perf.plugin import PerfGate

    case = Case("embed", "minilm", "compile+freeze", device="cuda")
    speedup, latency = f"{case.prefix}/speedup", f"{case.prefix}/median_s"
    state = PerfGate.__new__(PerfGate)
    state.update, state.rules, state.decisions, state._loaded = False, {"tolerance": None}, [], True
    state.config = SimpleNamespace()
    state._baseline = BaselineFile("k", "measured", {}, {
        speedup: baselines.metric("speedup", 1.99, 0.01), latency: baselines.metric("latency", 0.00218, 0.00001)})
    second_machine = {speedup: gate.Measurement(speedup, "speedup", 1.97, 0.01),
                      latency: gate.Measurement(latency, "latency", 0.00312, 0.00001)}
    decisions = state.check(second_machine, report_only=case.report_only())
    assert [d.status for d in decisions] == [gate.PASS, gate.REPORT]
    assert f"[FAIL; report only: {HOST_BOUND_CALLS}]" in decisions[1].message
    slower = {**second_machine, speedup: gate.Measurement(speedup, "speedup", 1.99 * 0.7, 0.01)}
    with pytest.raises(pytest.fail.Exception, match="speedup"):
        state.check(slower, report_only=case.report_only())
