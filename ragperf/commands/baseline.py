"""``ragperf baseline``: record, compare against, show and summarize per-hardware perf baselines,
and prove the gate on this machine (A/A runs and planted slowdowns).

Every case is measured in its own fresh process (``python -m ragperf.perf.cases``).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path

from ragperf import argtypes
from ragperf.errors import RagperfError
from ragperf.perf.gate import TOLERANCE, fraction
from ragperf.perf.processes import DEFAULT as PROCESSES

DEFAULT_CASES = "embed:minilm:compile,embed:minilm:compile+freeze,embed:minilm:compile+freeze+inference_mode," \
                "decode:tiny-llama:compile-decode"

TOLERANCE_HELP = f"the speedup drop always allowed (default: the stored one, else {TOLERANCE:g})"


def register(subparsers) -> None:
    parser = subparsers.add_parser("baseline", help="record/compare/show perf baselines; prove the gate",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p, cases=True, dir_type=argtypes.existing_dir):
        p.add_argument("--dir", type=dir_type, default=Path("baselines/perf"), help="baseline folder (default: %(default)s)")
        p.add_argument("--gate-processes", type=argtypes.positive_int, default=PROCESSES, metavar="N",
                       help="fresh processes per measured case, gated on their median (default %(default)s, "
                            "as --ragperf-processes)")
        if cases:
            p.add_argument("--cases", default=DEFAULT_CASES, help="comma list of KIND:MODEL:VARIANT[@BACKEND]")
            p.add_argument("--rounds", type=argtypes.positive_int, default=None, help="interleaved rounds per case")

    record = sub.add_parser("record", help="measure the cases and store them as this machine's baseline")
    common(record, dir_type=argtypes.output_dir)
    record.set_defaults(func=run_record)
    compare = sub.add_parser("compare", help="measure the cases and gate them (exit 1 on FAIL)")
    common(compare)
    compare.add_argument("--report", type=argtypes.output_file, default=None, help="also write the decisions as JSON")
    compare.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    compare.add_argument("--plant-slowdown", type=argtypes.slowdown, default=0.0, help="make the compiled path this much slower")
    compare.add_argument("--tolerance", type=fraction, default=None, help=TOLERANCE_HELP)
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
    prove.add_argument("--case", default="embed:minilm:compile",
                       help="comma list of KIND:MODEL:VARIANT[@BACKEND], e.g. the issue's table: " + DEFAULT_CASES)
    prove.add_argument("--rounds", type=argtypes.positive_int, default=None)
    prove.add_argument("--aa-runs", type=argtypes.positive_int, default=20)
    prove.add_argument("--slowdowns", type=argtypes.slowdowns, default="0.10,0.05", help="planted slowdowns of the compiled path")
    prove.add_argument("--planted-runs", type=argtypes.positive_int, default=10, help="runs per planted slowdown")
    prove.add_argument("--processes", type=argtypes.positive_int, default=4, help="fresh processes the runs are spread over (at least --gate-processes)")
    prove.add_argument("--tolerance", type=fraction, default=None, help=TOLERANCE_HELP)
    prove.add_argument("--seed", type=int, default=0)
    prove.set_defaults(func=run_prove)


def _cases(args):
    from ragperf.perf.cases import parse_case
    from ragperf.perf.checks import check_case

    cases = [check_case(parse_case(spec.strip(), args.rounds)) for spec in args.cases.split(",") if spec.strip()]
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
    for case in cases:
        _progress(f"{case.prefix}: measuring in {args.gate_processes} fresh process(es)...")
        for name, m in case.measurements(processes.measure(case, args.gate_processes)).items():
            metrics[name] = baselines.metric(m.kind, m.value, m.se, low=m.low, high=m.high, processes=m.processes)
    path = baselines.record(fp, metrics, args.dir, note="recorded by `ragperf baseline record`")
    print(f"recorded {len(metrics)} metrics for {fp['key']} -> {path}")
    return 0


def run_compare(args) -> int:
    from ragperf.perf import baselines, gate, processes
    from ragperf.perf.machine import fingerprint
    from ragperf.perf.plugin import report_json

    cases = _cases(args)  # every case checked before the first is measured
    fp = fingerprint()
    baseline = baselines.find(fp, args.dir)
    if baseline is None:
        print(f"{fp['key']}: {gate.NO_BASELINE}")
    decisions, rules = [], {"tolerance": args.tolerance}
    for case in cases:
        _progress(f"{case.prefix}: measuring in {args.gate_processes} fresh process(es)...")
        def measure(c=case):
            return c.measurements(processes.measure(c, args.gate_processes, slowdown=args.plant_slowdown))

        decisions += gate.confirm(gate.gate(measure(), baseline, **rules), baseline, measure, **rules)
    if args.report:
        args.report.write_text(json.dumps(report_json(decisions, fp, baseline), indent=1) + "\n")
    print(gate.table(decisions, markdown=args.markdown))
    for d in decisions:
        if d.status != gate.PASS:
            print(f"{d.status}: {d.message}")
    verdict = gate.overall(decisions)
    print(f"verdict: {verdict}")
    return 1 if verdict == gate.FAIL else 0


def run_show(args) -> int:
    from ragperf.perf import baselines, gate
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
        value = gate._fmt(entry["kind"])(entry["value"])
        print(f"  {name:55} {value:>10}  se {entry.get('se', 0):.1%}")
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

    reports = [fleet.load_report(path) for path in args.reports]
    print(fleet.merge(reports))
    return 1 if fleet.overall(reports) == gate.FAIL else 0


def run_prove(args) -> int:
    """Spread A/A and planted runs over fresh processes (random order inside each); a gated run is the
    median of ``--gate-processes`` values from distinct processes, judged against the stored baseline,
    a suspect confirmed on the pooled values of another such group (as the gate does). Prints the
    campaign table (Markdown, one row per case x planted slowdown) and the load average it ran under."""
    import os

    from ragperf.perf import baselines
    from ragperf.perf.cases import parse_case
    from ragperf.perf.checks import check_case
    from ragperf.perf.machine import fingerprint

    if args.processes < args.gate_processes:
        raise RagperfError(f"--processes {args.processes} is fewer than --gate-processes {args.gate_processes}: a "
                           "gated run needs that many distinct processes; give --processes "
                           f"{args.gate_processes} or more")
    cases = [check_case(parse_case(spec.strip(), args.rounds)) for spec in args.case.split(",") if spec.strip()]
    baseline = baselines.find(fingerprint(), args.dir)
    rows, aa_ok = [], True
    for case in cases:
        if baseline is None or f"{case.prefix}/speedup" not in baseline.metrics:
            raise RagperfError(f"no stored baseline for {case.prefix} on this machine: run "
                               f"`ragperf baseline record --cases {args.case}` first")
        rows += _campaign(case, baseline, args)
    load = os.getloadavg()
    print(f"baseline {baseline.path}; {args.processes} fresh processes per case, a gated run = median of "
          f"{args.gate_processes}; load average during/after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| case | baseline (se, process sd) | planted slowdown | runs | green (of which WARN) | red (gate fails) "
          "| median speedup | run-to-run spread | median run se |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        label = "A/A (none)" if r["slowdown"] == 0 else f"{r['slowdown']:.0%}"
        print(f"| {r['case']} | {r['base']} | {label} | {r['runs']} | {r['green']} ({r['warn']}) | {r['red']} | "
              f"{r['median_speedup']:.3f}x | {r['spread']:.1%} | {r['median_se']:.1%} |")
        if r["slowdown"] == 0:
            ok = r["red"] <= r["runs"] // 20
            aa_ok &= ok
            short = "" if r["runs"] >= 20 else f"; only {r['runs']} runs: the acceptance needs >= 20"
            print(f"<!-- {r['case']}: A/A false alarms {r['red']}/{r['runs']} ({'meets' if ok else 'MISSES'} "
                  f"at most 1 in 20{short}) -->")
    return 0 if aa_ok else 1


def _groups(mine: list[tuple[int, dict]], size: int) -> list[list[tuple[int, dict]]]:
    """Disjoint groups of ``size`` runs, each from ``size`` distinct processes (as many as there are)."""
    by_proc: dict[int, list[dict]] = {}
    for proc, figures in mine:
        by_proc.setdefault(proc, []).append(figures)
    groups = []
    while True:
        ready = sorted((p for p in by_proc if by_proc[p]), key=lambda p: -len(by_proc[p]))[:size]
        if len(ready) < size:
            return groups
        groups.append([(p, by_proc[p].pop()) for p in ready])


def _campaign(case, baseline, args) -> list[dict]:
    from ragperf.perf import gate, processes
    from ragperf.subproc import run_json

    size = args.gate_processes
    plan = [0.0] * args.aa_runs * size + [s for s in args.slowdowns for _ in range(args.planted_runs * size)]
    random.Random(args.seed).shuffle(plan)
    chunks = [plan[i::args.processes] for i in range(args.processes)]
    runs = []  # (process index, figures)
    for index, chunk in enumerate(chunks):
        if chunk:
            _progress(f"process {index + 1}/{len(chunks)}: {len(chunk)} runs of {case.prefix}...")
            out = run_json("ragperf.perf.cases", case.args() + ["--plan", ",".join(map(str, chunk))])
            runs += [(index, r) for r in out["runs"]]
    rules = {"tolerance": args.tolerance}
    base = baseline.metrics[f"{case.prefix}/speedup"]
    rows = []
    for slowdown in [0.0, *args.slowdowns]:
        groups = _groups([(p, r) for p, r in runs if r["slowdown"] == slowdown], size)
        if not groups:
            continue
        combined = [processes.combine([r for _, r in g]) for g in groups]
        finals = []
        for i, figures in enumerate(combined):
            spare = combined[(i + 1) % len(combined)]  # another group: other draws of the same kind
            first = gate.gate(case.measurements(figures), baseline, **rules)
            final = gate.confirm(first, baseline, lambda spare=spare: case.measurements(spare), **rules)
            finals.append(next(d for d in final if d.metric.endswith("/speedup")))
        speedups = [f["speedup"] for f in combined]
        red = sum(d.status == gate.FAIL for d in finals)
        rows.append({"case": case.prefix, "slowdown": slowdown, "runs": len(finals), "red": red,
                     "green": len(finals) - red, "warn": sum(d.status == gate.WARN for d in finals),
                     "base": f"{base['value']:.3f}x ({base.get('se', 0):.1%}, {base.get('process_sd', 0):.1%})",
                     "median_speedup": statistics.median(speedups),
                     "spread": statistics.pstdev(speedups) / statistics.mean(speedups),
                     "median_se": statistics.median(f["speedup_se"] for f in combined)})
    return rows
