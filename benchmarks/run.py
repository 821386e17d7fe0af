"""Run every benchmarks/bench_*.py (each has main(quick) -> markdown) and write RESULTS.md.

    python benchmarks/run.py            full run; writes benchmarks/RESULTS.md and results/*.json
    python benchmarks/run.py --quick    fewer repeats and sizes; writes results/RESULTS.quick.md
                                        and results/*.quick.json (the committed figures stay)
    python benchmarks/run.py -k loops   only the benchmarks whose name contains 'loops'
    python benchmarks/run.py --adjoint /path/to/checkout   benchmark that checkout's adjoint

`make bench` runs the full version.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))



def discover(pattern=None):
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in names if pattern is None or pattern in n]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("-k", dest="pattern", help="run only benchmarks whose name contains this")
    parser.add_argument("-o", "--output", help="markdown file to write (default: see above)")
    parser.add_argument("--adjoint", metavar="PATH",
                        help="a checkout whose adjoint package to benchmark (default: installed)")
    args = parser.parse_args(argv)
    if args.adjoint:
        os.environ["ADJOINT_BENCH_PATH"] = args.adjoint
    from common import RESULTS_DIR, machine_info, markdown_table

    output = Path(args.output) if args.output else (
        RESULTS_DIR / "RESULTS.quick.md" if args.quick else HERE / "RESULTS.md")
    sections, failures, durations = [], [], []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for name in discover(args.pattern):
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
            text = module.main(quick=args.quick)
        except Exception:  # noqa: BLE001 -- one failing benchmark must not hide the others
            failures.append(name)
            text = f"## {name}: FAILED\n\n```\n{traceback.format_exc()}```"
        durations.append([name, f"{time.perf_counter() - t0:.0f} s"])
        print(text, "\n", flush=True)
        sections.append(text)

    info = machine_info()
    load = info["loadavg_1_5_15_min"][0]
    cpus = info["cpu_count"] or 1
    load_note = (f"Load average at the end of the run: {load} on {cpus} CPUs (the benchmark "
                 "itself keeps about one busy). "
                 + ("Other processes shared the machine during this run: the absolute medians "
                    "are inflated (compare the min column); the paired ratios are the figures "
                    "to rely on." if load > 1.5 else "The machine was otherwise quiet."))
    command = "python benchmarks/run.py --quick" if args.quick else "make bench"
    header = [
        "# Benchmarks",
        "",
        (f"Reproduce with `{command}` (`make bench` runs `python benchmarks/run.py`; "
        "`--quick` gives a short run). Each table comes from one process; the raw figures, every repeat "
        "included, are in `benchmarks/results/<name>.json`."),
        "",
        f"Run {started}{' in --quick mode' if args.quick else ''}. {load_note}",
        "",
        "Machine:",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
        markdown_table(["benchmark", "wall time"], durations),
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(header) + "\n\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {output}")
    if failures:
        print("FAILED:", ", ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
