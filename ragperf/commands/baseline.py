"""``ragperf baseline``: record, compare against, show and summarize per-hardware perf baselines - or, with
``compare --reference``, gate against another environment measured now, interleaved - and prove the gate on
this machine (A/A runs and planted slowdowns).

Every case is measured in its own fresh process (``python -m ragperf.jobs case``); against a ``--reference``, in
lockstep pairs of processes (``python -m ragperf.perf.lockstep`` on each interpreter).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ragperf import argtypes, jobargs
from ragperf.errors import RagperfError
from ragperf.perf.ab import DEFAULT_PAIRS as AB_PAIRS
from ragperf.perf.gate import fraction
from ragperf.perf.metrics import SPEEDUP
from ragperf.perf.processes import COMPILE_DEFAULT as COMPILE_PROCESSES
from ragperf.perf.processes import DEFAULT as PROCESSES
from ragperf.perf.proof import METRICS, metric_list

DEFAULT_CASES = "embed:minilm:compile,embed:minilm:compile+freeze,embed:minilm:compile+freeze+inference_mode," \
                "decode:tiny-llama:compile-decode"

TOLERANCE_HELP = f"the speedup drop always allowed (default: the stored one, else {SPEEDUP.tolerance:g})"


def register(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="record/compare/show perf baselines; prove the gate",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p, cases=True, dir_type=argtypes.existing_dir):
        p.add_argument("--dir", type=dir_type, default=Path("baselines/perf"), help="baseline folder (default: %(default)s)")
        p.add_argument("--gate-processes", type=jobargs.PROCESSES, default=PROCESSES, metavar="N",
                       help=f"fresh processes per measured case ({jobargs.PROCESSES.bounds}), gated on their median "
                            f"(default {PROCESSES}, as "
                            f"--ragperf-processes; prove-gate's compile metrics {COMPILE_PROCESSES}, as "
                            "--ragperf-compile-processes)")
        if cases:
            p.add_argument("--cases", default=DEFAULT_CASES, help="comma list of KIND:MODEL:VARIANT[@BACKEND]")
            p.add_argument("--rounds", type=jobargs.ROUNDS, default=None,
                           help=f"interleaved rounds per case ({jobargs.ROUNDS.bounds})")

    record = sub.add_parser("record", help="measure the cases and store them as this machine's baseline")
    common(record, dir_type=argtypes.output_dir)
    record.set_defaults(func=run_record)
    compare = sub.add_parser("compare", help="measure the cases and gate them (exit 1 on FAIL)")
    common(compare)
    compare.add_argument("--report", type=argtypes.output_file, default=None, help="also write the decisions as JSON")
    compare.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    compare.add_argument("--plant-slowdown", type=argtypes.slowdown, default=0.0, help="make the compiled path this much slower")
    compare.add_argument("--tolerance", type=fraction, default=None, help=TOLERANCE_HELP)
    compare.add_argument("--reference", default=None, metavar="PYTHON", type=argtypes.nonblank,
                         help="gate against this interpreter's (or venv folder's) environment - e.g. the previous "
                              "torch's, ragperf installed there - measured now, interleaved with the candidate, instead of the "
                              "stored baseline")
    compare.add_argument("--candidate", default=None, metavar="PYTHON", type=argtypes.nonblank,
                         help="with --reference: the candidate's interpreter (default: the one running ragperf)")
    compare.add_argument("--pairs", type=jobargs.PAIRS, default=None, metavar="N",
                         help=f"with --reference: lockstep pairs of processes (a reference and a candidate process each) "
                              f"per case ({jobargs.PAIRS.bounds}; default {AB_PAIRS})")
    compare.set_defaults(func=run_compare)
    show = sub.add_parser("show", help="print the baseline that applies to this machine (or --all)")
    common(show, cases=False)
    show.add_argument("--all", action="store_true", help="list every baseline file and what it matches")
    show.set_defaults(func=run_show)
    summary = sub.add_parser("summary", help="render a gate report (pytest --ragperf-perf-report) as a table")
    summary.add_argument("report", type=Path)
    summary.add_argument("--markdown", action="store_true", help="Markdown (for $GITHUB_STEP_SUMMARY)")
    summary.set_defaults(func=run_summary)
    merge = sub.add_parser("merge", help="merge many runners' gate reports: a Markdown section per fingerprint "
                                         "and one overall verdict (exit 1 on FAIL)")
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT.json")
    merge.set_defaults(func=run_merge)
    prove = sub.add_parser("prove-gate", help="A/A runs and planted slowdowns against the stored baseline")
    common(prove, cases=False)
    prove.set_defaults(gate_processes=None)  # as the gate: --ragperf-processes, or for compile time its own
    prove.add_argument("--case", default=None,
                       help="comma list of KIND:MODEL:VARIANT[@BACKEND] (default embed:minilm:compile; with --load "
                            "the saved cases), e.g. the three MiniLM rungs and decode: " + DEFAULT_CASES)
    prove.add_argument("--rounds", type=jobargs.ROUNDS, default=None, help=f"rounds per run ({jobargs.ROUNDS.bounds})")
    prove.add_argument("--aa-runs", type=jobargs.RUNS, default=20, help=f"A/A runs ({jobargs.RUNS.bounds}; default 20)")
    prove.add_argument("--slowdowns", type=argtypes.slowdowns, default="0.10,0.05", help="planted slowdowns of the compiled path")
    prove.add_argument("--planted-runs", type=jobargs.RUNS, default=10,
                       help=f"runs per planted slowdown ({jobargs.RUNS.bounds}; default 10)")
    prove.add_argument("--processes", type=jobargs.PROCESSES, default=4,
                       help=f"fresh processes the speedup runs are spread over ({jobargs.PROCESSES.bounds}, at least "
                            "--gate-processes; default 4)")
    prove.add_argument("--metric", type=metric_list, default=None, metavar="|".join(METRICS),
                       help="the gated metric(s) proven: the speedup (default; with --load the saved metrics), or "
                            "- comma-separated, judged from "
                            "the same processes - the cold first call's compile seconds and its units of this "
                            "machine's speed (each value a fresh process; slowdowns planted in the compiler)")
    prove.add_argument("--tolerance", type=fraction, default=None, help=TOLERANCE_HELP)
    prove.add_argument("--pairs", type=jobargs.PAIRS, default=None, metavar="N",
                       help=f"({jobargs.PAIRS.bounds}) prove the interleaved A/B gate (`compare --reference`) instead of the stored baseline: "
                            "a run is N lockstep blocks (a reference's and a candidate's figures, the candidate's "
                            "planted) from N distinct pairs of processes (speedup only; --processes pairs, at "
                            "least N)")
    prove.add_argument("--seed", type=jobargs.SEED, default=0, help=f"random seed ({jobargs.SEED.bounds})")
    prove.add_argument("--save", type=argtypes.output_file, default=None, metavar="FILE",
                       help="also keep the measured values, to judge them again with --load")
    prove.add_argument("--load", type=argtypes.existing_file, action="append", default=None, metavar="FILE",
                       help="judge the values a --save kept instead of measuring: its cases, metrics and process "
                            "count unless given, against today's baseline of the machine it was measured on "
                            "(repeatable: campaigns of one machine and metric judged as one)")
    prove.set_defaults(func=run_prove)


def _cases(args):
    from ragperf.perf.cases import check_case, parse_case

    cases = [check_case(parse_case(spec.strip(), args.rounds)) for spec in args.cases.split(",") if spec.strip()]
    argtypes.refuse_repeats([case.prefix for case in cases], "case")
    if not cases:
        raise RagperfError(f"--cases {args.cases!r} names no case; give KIND:MODEL:VARIANT[@BACKEND],... "
                           f"e.g. {DEFAULT_CASES.split(',')[0]}")
    return cases


def _progress(text: str) -> None:
    print(f"[ragperf] {text}", file=sys.stderr, flush=True)


def run_record(args) -> int:
    from ragperf.perf import baselines, processes
    from ragperf.perf.machine import fingerprint

    cases = _cases(args)  # every case checked before the first is measured
    fp, metrics = fingerprint(), {}
    baselines.check_recordable(fp, args.dir)  # the file it will merge into, before anything is measured
    for case in cases:
        _progress(f"{case.prefix}: measuring in {args.gate_processes} fresh process(es)...")
        for name, m in case.measurements(processes.measure(case, args.gate_processes)).items():
            metrics[name] = baselines.metric(m.kind, m.value, m.se, low=m.low, high=m.high, processes=m.processes)
    path = baselines.record(fp, metrics, args.dir, note="recorded by `ragperf baseline record`")
    print(f"recorded {len(metrics)} metrics for {fp['key']} -> {path}")
    return 0


def run_compare(args) -> int:
    from ragperf.perf import baselines, gate
    from ragperf.perf.machine import fingerprint
    from ragperf.perf.plugin import report_json

    if args.candidate and not args.reference:
        raise RagperfError("--candidate is the other side of --reference: give --reference PYTHON too (or drop "
                           "--candidate to gate this interpreter against the stored baseline)")
    argtypes.refuse_inside(args.report, args.dir, "--report", "the perf baselines")
    argtypes.refuse_unused({"--pairs": args.pairs}, bool(args.reference),
                           "--pairs counts lockstep pairs against --reference PYTHON; give --reference too, or drop it")
    cases = _cases(args)  # every case checked before the first is measured
    fp = fingerprint()
    baseline = None if args.reference else baselines.find(fp, args.dir)
    if args.reference:
        decisions, reference = _ab_decisions(cases, args)
    else:
        if baseline is None:
            print(f"{fp['key']}: {gate.NO_BASELINE}")
        decisions = _stored_decisions(cases, baseline, args)
    if args.report:
        report = report_json(decisions, fp, baseline)
        if args.reference:
            report["baseline"] = reference
        from ragperf.files import write_atomic

        write_atomic(args.report, lambda f: f.write(json.dumps(report, indent=1) + "\n"))
    print(gate.table(decisions, markdown=args.markdown))
    for d in decisions:
        if d.status != gate.PASS:
            print(f"{d.status}: {d.message}")
    verdict = gate.overall(decisions)
    print(f"verdict: {verdict}")
    return 1 if verdict == gate.FAIL else 0


def _stored_decisions(cases, baseline, args) -> list:
    """Every case measured in ``--gate-processes`` fresh processes and gated against the stored ``baseline``."""
    from ragperf.perf import gate, processes

    decisions, rules = [], {"tolerance": args.tolerance}
    for case in cases:
        _progress(f"{case.prefix}: measuring in {args.gate_processes} fresh process(es)...")
        def measure(c=case):
            return c.measurements(processes.measure(c, args.gate_processes, slowdown=args.plant_slowdown))

        decisions += gate.confirm(gate.gate(measure(), baseline, **rules), baseline, measure, **rules)
    return decisions


def _ab_decisions(cases, args) -> tuple[list, str]:
    """Every case gated against ``--reference`` measured now, interleaved (:mod:`ragperf.perf.ab`); the
    decisions and what they were judged against, in words."""
    from ragperf.perf import ab

    sides = ab.environments(args.reference, args.candidate)
    args.pairs = args.pairs or AB_PAIRS
    against = f"interleaved reference {sides.describe(ab.REFERENCE)}, {args.pairs} lockstep pairs of processes per case"
    print(f"A/B: candidate {sides.describe(ab.CANDIDATE)} against the {against}")
    decisions = []
    for case in (ab.with_rounds(c, args.rounds) for c in cases):
        def measure(c=case):
            return ab.measure(c, args.pairs, sides.reference, sides.candidate, slowdown=args.plant_slowdown,
                              progress=_progress)

        decisions += ab.decide(case.prefix, measure, f"A/B {sides.reference}", case.report_only(),
                               tolerance=args.tolerance)
    return decisions, against


def run_show(args) -> int:
    from ragperf.perf import baselines, metrics
    from ragperf.perf.machine import fingerprint

    fp = fingerprint()
    if args.all:
        for b in baselines.load_all(args.dir):
            mark = "*" if b.matches(fp) else " "
            print(f"{mark} {b.path}  {b.source}  {len(b.metrics)} metrics  match: "
                  + ", ".join(f"{k}={v}" for k, v in b.match.items()))
        return 0
    b = baselines.find(fp, args.dir)
    if b is None:
        print(f"no baseline in {args.dir} matches {fp['key']}; record one with `ragperf baseline record`")
        return 0
    print(f"{b.path} ({b.source}, recorded {b.recorded or '-'}){': ' + b.note if b.note else ''}")
    for name, entry in b.metrics.items():
        value = metrics.kind(entry["kind"]).shown(entry["value"])
        spreads = (f"  process sd {entry['process_sd']:.1%}  session sd {entry['session_sd']:.1%}  "
                   f"({len(entry['history'])} recordings)" if entry.get("history") else "")
        print(f"  {name:55} {value:>10}  se {entry.get('se', 0):.1%}{spreads}")
    return 0


def run_summary(args) -> int:
    from ragperf.perf import gate
    from ragperf.perf.fleet import load_report

    report = load_report(args.report)
    verdict = gate.overall(report.decisions)
    print(f"### ragperf perf gate: {verdict} on `{report.key}`" if args.markdown else
          f"ragperf perf gate: {verdict} on {report.key}")
    print(f"\nbaseline: {report.baseline or 'none (report only)'}\n")
    print(gate.table(report.decisions, markdown=args.markdown))
    return 0


def run_merge(args) -> int:
    from ragperf.perf import fleet, gate

    argtypes.refuse_repeats(args.reports, "report")
    reports = [fleet.load_report(path) for path in args.reports]
    empty = next((r for r in reports if not r.decisions), None)
    if empty is not None:  # a runner that measured nothing must not pass the fleet's gate
        raise RagperfError(f"{empty.path} holds no decisions: its runner measured nothing; rerun it with "
                           "pytest -m perf, or leave its report out")
    print(fleet.merge(reports))
    return 1 if fleet.overall(reports) == gate.FAIL else 0


def run_prove(args) -> int:
    """A/A runs and planted slowdowns of each ``--case``'s ``--metric``(s) against the stored baseline
    (:mod:`ragperf.perf.proof`). Prints the campaign table (Markdown) and the load average it ran under;
    exit 1 when A/A false alarms exceed 1 in 20."""
    import os

    from ragperf.perf import baselines, proof
    from ragperf.perf.cases import check_case, parse_case
    from ragperf.perf.machine import fingerprint

    argtypes.refuse_inside(args.save, args.dir, "--save", "the perf baselines")
    saved = proof.load_many(args.load, args.metric) if args.load else None
    loaded = ", ".join(map(str, args.load or []))
    if saved:  # judge what was measured, unless narrowed
        args.metric, args.case = args.metric or saved.metrics, args.case or saved.cases()
        args.processes = saved.processes()
    args.metric, args.case = args.metric or [proof.SPEEDUP], args.case or "embed:minilm:compile"
    speedup = args.metric == [proof.SPEEDUP]
    if args.pairs and not speedup:
        raise RagperfError(f"--pairs proves the interleaved A/B gate of the speedup; drop --metric "
                           f"{','.join(args.metric)} or --pairs")
    args.gate_processes = args.gate_processes or (PROCESSES if speedup else COMPILE_PROCESSES)
    option, needed = ("--pairs", args.pairs) if args.pairs else ("--gate-processes", args.gate_processes)
    unit = "pairs of processes" if args.pairs else "processes"
    if saved and speedup and saved.lockstep() != bool(args.pairs):
        raise RagperfError(f"{loaded} holds {'lockstep A/B blocks' if saved.lockstep() else 'values of single processes'}"
                           f": judge it {'with' if saved.lockstep() else 'without'} --pairs N")
    if speedup and args.processes < needed:
        if saved:
            raise RagperfError(f"{loaded} spread its values over {args.processes} {unit}, fewer than the {needed} "
                               f"distinct ones a gated run of {option} {needed} needs: give a smaller {option}")
        raise RagperfError(f"--processes {args.processes} is fewer than the {needed} distinct {unit} a gated run "
                           f"needs ({option}); give --processes {needed} or more")
    cases = [check_case(parse_case(spec.strip(), args.rounds)) for spec in args.case.split(",") if spec.strip()]
    if args.pairs:
        from ragperf.perf.ab import with_rounds

        cases = [with_rounds(case, args.rounds) for case in cases]
    measured = dict(saved.runs) if saved else {}
    for case in cases:
        if saved and case.prefix not in measured:
            raise RagperfError(f"{loaded} holds no values of {case.prefix}; it has {', '.join(measured)}")
    if args.pairs:  # the reference is measured in the campaign; no stored figure is needed
        baseline = None
    elif saved:
        baseline = next((b for b in baselines.load_all(args.dir) if b.key == saved.fingerprint), None)
        if baseline is None:
            raise RagperfError(f"{loaded} was measured on {saved.fingerprint}; {args.dir} holds no baseline of "
                               "that machine: give the --dir that does")
    else:
        baseline = baselines.find(fingerprint(), args.dir)
    for case in cases:  # every case checked before the first is measured
        for metric in [] if args.pairs else args.metric:
            if baseline is None or f"{case.prefix}/{metric}" not in baseline.metrics:
                record = ("`ragperf baseline record --cases " + args.case + "`" if speedup
                          else "`OMP_NUM_THREADS=1 pytest -m perf tests/perf/test_compile_time_perf.py "
                               "--ragperf-update-baselines`")
                raise RagperfError(f"no stored baseline for {case.prefix}/{metric} on this machine: record one "
                                   f"with {record} first")
    rows = []
    for case in cases:
        if not saved:
            measured[case.prefix] = _measure_campaign(case, args)
        rows += _judge_campaign(case, measured[case.prefix], baseline, args)
    machine = saved.fingerprint if saved else (baseline.key if baseline else fingerprint()["key"])
    if args.save:
        proof.save(args.save, {c.prefix: measured[c.prefix] for c in cases}, args.metric, machine)
    load = os.getloadavg()
    spread = (f"{args.processes} lockstep pairs of processes per case" if args.pairs
              else f"{args.processes} fresh processes per case" if speedup
              else "every value its own fresh process on an empty Inductor cache")
    source = f"values from {loaded}" if saved else f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    against = (f"interleaved A/B on {machine}; {spread}, a gated run = {args.pairs} of them" if args.pairs
               else f"baseline {baseline.path}; {spread}, a gated run = median of {args.gate_processes}")
    print(f"{against}; {source}")
    print("\n".join(proof.markdown(rows)))
    return 0 if all(r.aa_ok() for r in rows if r.aa) else 1


def _measure_campaign(case, args) -> list[tuple[int, dict]]:
    """Every value of one case's campaign, measured: (process, figures) pairs, each with its ``slowdown``."""
    from ragperf.perf import proof

    values = proof.plan(args.aa_runs, args.slowdowns, args.planted_runs, args.pairs or args.gate_processes,
                        args.seed)
    if args.metric == [proof.SPEEDUP]:
        return _speedup_values(case, values, args.processes, in_pairs=bool(args.pairs))
    return [(i, {**_cold_compile(case, s, i, len(values)), "slowdown": s}) for i, s in enumerate(values)]


def _judge_campaign(case, runs: list[tuple[int, dict]], baseline, args) -> list:
    """The campaign rows of one case: its values grouped into gated runs, judged per metric x slowdown."""
    from ragperf.perf import compile_time, processes, proof

    if args.metric == [proof.SPEEDUP]:
        combine, measurements = processes.combine, case.measurements
    else:
        def combine(group):
            return {"processes": group}

        def measurements(figures):
            return compile_time.measurements(case.prefix, figures)
    rules = {"tolerance": args.tolerance}
    rows = []
    for metric in args.metric:
        name = f"{case.prefix}/{metric}"
        for slowdown in sorted({r["slowdown"] for _, r in runs}):
            grouped = proof.groups([(p, r) for p, r in runs if r["slowdown"] == slowdown],
                                   args.pairs or args.gate_processes)
            if not grouped:
                continue
            if args.pairs:  # each run against its own interleaved reference
                decisions, base = proof.judge_ab(case.prefix, metric, grouped, rules), None
            else:
                decisions = proof.judge(name, [combine(g) for g in grouped], measurements, baseline, rules)
                base = baseline.metrics[name]
            rows.append(proof.row(case.prefix, metric, slowdown, decisions, base))
    return rows


def _speedup_values(case, values: list[float], processes: int, in_pairs: bool = False) -> list[tuple[int, dict]]:
    """``values`` (each a planted slowdown) spread over ``processes`` fresh processes, each compiling once:
    (process, figures); ``in_pairs``: over that many lockstep pairs of processes, one block per value."""
    from ragperf.perf import lockstep
    from ragperf.subproc import run_job

    runs = []
    for index in range(processes):
        chunk = values[index::processes]
        if not chunk:
            continue
        _progress(f"{'pair' if in_pairs else 'process'} {index + 1}/{processes}: {len(chunk)} "
                  f"{'lockstep blocks' if in_pairs else 'runs'} of {case.prefix}...")
        if in_pairs:
            measured = lockstep.pair(case, sys.executable, sys.executable, chunk)
        else:
            measured = run_job("case", case.args() + ["--plan", ",".join(map(str, chunk))])["runs"]
        runs += [(index, figures) for figures in measured]
    return runs


def _cold_compile(case, slowdown: float, index: int, total: int) -> dict:
    """One cold first call (a fresh process on a new, empty Inductor cache, removed after), as ``cold_*`` keys."""
    from ragperf.perf import compile_time

    _progress(f"cold compile {index + 1}/{total} of {case.prefix} (planted {slowdown:.0%})...")
    with compile_time.empty_cache() as cache:
        cold = compile_time.measure_once(case, cache, slowdown)
    return {f"cold_{k}": v for k, v in cold.items() if k in compile_time.FIGURES}
