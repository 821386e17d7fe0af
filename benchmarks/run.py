"""Run every benchmarks/bench_*.py (each has main(quick) -> markdown) and write RESULTS.md.

    python benchmarks/run.py            full run; writes benchmarks/RESULTS.md, results/*.json
                                        and the plots benchmarks/plots/*.png, then README.md's
                                        results table from RESULTS.md (readme_table.py)
    python benchmarks/run.py --quick    fewer repeats, sizes and workloads (about 2 minutes on
                                        2 cores); writes results/RESULTS.quick.md,
                                        results/*.quick.json and results/plots.quick/*.png
                                        (the committed figures and README.md stay)
    python benchmarks/run.py -k loops   only the benchmarks whose name contains 'loops'
    python benchmarks/run.py --skip higher   all but the benchmarks whose name contains 'higher'
    python benchmarks/run.py --plots-only    redraw the plots from results/*.json (no benchmark)
    python benchmarks/run.py --adjoint /path/to/checkout   benchmark that checkout's adjoint

`make bench` runs the full version.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def discover(pattern=None, skip=()):
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in names if (pattern is None or pattern in n)
            and not any(s in n for s in skip)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, sizes and workloads; never writes RESULTS.md")
    parser.add_argument("-k", dest="pattern", help="run only benchmarks whose name contains this")
    parser.add_argument("--skip", action="append", default=[], metavar="PATTERN",
                        help="leave out benchmarks whose name contains this (repeatable)")
    parser.add_argument("--plots-only", action="store_true",
                        help="redraw the plots from the results/*.json of the last run")
    parser.add_argument("-o", "--output", help="markdown file to write (default: see above)")
    parser.add_argument("--adjoint", metavar="PATH",
                        help="a checkout whose adjoint package to benchmark (default: installed)")
    args = parser.parse_args(argv)
    if args.adjoint:
        os.environ["ADJOINT_BENCH_PATH"] = args.adjoint
    from common import RESULTS_DIR, machine_info, markdown_table

    if args.plots_only:
        plot_dir = RESULTS_DIR / "plots.quick" if args.quick else HERE / "plots"
        print(write_plots(discover(args.pattern, args.skip), RESULTS_DIR, plot_dir, args.quick))
        return 0

    output = Path(args.output) if args.output else (
        RESULTS_DIR / "RESULTS.quick.md" if args.quick else HERE / "RESULTS.md")
    if args.quick and output.resolve() == HERE / "RESULTS.md":
        parser.error("--quick figures must not replace the full run's RESULTS.md")
    sections, failures, durations, ran = [], [], [], []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_at_start = os.getloadavg()[0]
    for name in discover(args.pattern, args.skip):
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
            text = module.main(quick=args.quick)
        except Exception:  # noqa: BLE001 -- one failing benchmark must not hide the others
            failures.append(name)
            text = f"## {name}: FAILED\n\n```\n{traceback.format_exc()}```"
        # Linux reports KiB; children: the largest child process that has ended so far
        peak = [resource.getrusage(who).ru_maxrss * 1024 / 1e9
                for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        durations.append([name, f"{time.perf_counter() - t0:.0f} s",
                          f"{peak[0]:.2f} GB / {peak[1]:.2f} GB", f"{os.getloadavg()[0]:.2f}"])
        print(text, "\n", flush=True)
        sections.append(text)
        if name not in failures:
            ran.append(name)
    plot_dir = RESULTS_DIR / "plots.quick" if args.quick else HERE / "plots"
    plot_note = write_plots(ran, RESULTS_DIR, plot_dir, args.quick)
    print(plot_note)

    info = machine_info()
    load = info["loadavg_1_5_15_min"][0]
    cpus = info["cpu_count"] or 1
    busiest = max([load_at_start, load] + [float(row[-1]) for row in durations])
    load_note = (f"Load average (1 min) at the start of the run: {load_at_start:.2f}, at the end: "
                 f"{load}, at most {busiest:.2f} at the end of a benchmark (table below), on "
                 f"{cpus} CPUs (the benchmark itself keeps about one busy; the batch benchmark "
                 "all of them). "
                 + ("Other processes shared the machine during this run: the absolute medians "
                    "are inflated (compare the min column); the paired ratios are the figures "
                    "to rely on." if busiest > 1.5 else "The machine was otherwise quiet."))
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
        markdown_table(["benchmark", "wall time",
                        "peak RSS so far: this process / largest child process",
                        "load average (1 min) at its end"], durations),
        "",
        plot_note,
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(header) + "\n\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {output}")
    if output.resolve() == HERE / "RESULTS.md":
        # README's summary table is generated from this file, so the two never drift apart
        import readme_table
        readme_table.main([])
    if failures:
        print("FAILED:", ", ".join(failures), file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# plots: gradient time / primal time per workload and tool, from the results/*.json just written

def _ratios(name, data):
    """[(workload title, {tool: gradient time / primal time})] from one benchmark's JSON."""
    out = []
    if name == "bench_arrays":
        for w in data["workloads"]:
            out.append((w["title"], {tool: d["gradient_over_primal"]
                                     for tool, d in w["tools"].items()
                                     if d.get("gradient_over_primal")}))
    elif name == "bench_loops":
        for w in data["workloads"]:
            out.append((w["title"], {row: d["over_primal"] for row, d in w["rows"].items()
                                     if not row.startswith("primal")}))
    elif name == "bench_f4":
        out.append(("f4 (seed hyper-box surface), gradient per point",
                    {row: d["ratio_vs_primal"] for row, d in data["per_point"].items()
                     if not row.startswith("primal")}))
    return out


PLOTS = {
    "bench_arrays": ("arrays.png", "each tool's gradient time / its own primal time"),
    "bench_loops": ("loops.png", "gradient time / numba.njit primal time"),
    "bench_f4": ("f4.png", "gradient time / numba.njit primal time (per point)"),
}


def write_plots(names, results_dir, plot_dir, quick):
    """One PNG per benchmark with primal ratios (bars on a log scale), and the batch throughput.
    Returns a line for RESULTS.md."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 -- ImportError, or a broken install
        return "matplotlib missing: no plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    suffix = ".quick.json" if quick else ".json"
    for name in names:
        path = results_dir / f"{name}{suffix}"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if name in PLOTS:
            file, xlabel = PLOTS[name]
            panels = [(t, r) for t, r in _ratios(name, data) if r]
            if not panels:
                continue
            heights = [0.45 * len(r) + 0.9 for _, r in panels]
            fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights)), squeeze=False,
                                     gridspec_kw={"height_ratios": heights})
            for ax, (title, ratios) in zip(axes[:, 0], panels):
                labels = list(ratios)[::-1]
                values = [ratios[k] for k in labels]
                colors = ["tab:blue" if k.startswith("adjoint") else "tab:gray" for k in labels]
                bars = ax.barh(labels, values, color=colors)
                ax.set_xscale("log")
                ax.axvline(1.0, color="black", linewidth=0.8)
                ax.bar_label(bars, labels=[f"{v:.3g}x" for v in values], padding=3, fontsize=8)
                ax.set_title(_wrap(title), fontsize=9)
                ax.tick_params(axis="y", labelsize=8)
                ax.set_xlim(right=max(values) * 8)
            axes[-1, 0].set_xlabel(xlabel)
        elif name == "bench_batch":
            file = "batch.png"
            # the throughput tables (rows by name); the hand-loop table's rows are a list
            workloads = [w for w in data["workloads"] if isinstance(w["rows"], dict)]
            fig, axes = plt.subplots(len(workloads), 1, squeeze=False,
                                     figsize=(9, 2.2 * len(workloads) + 0.5))
            for ax, w in zip(axes[:, 0], workloads):
                labels = list(w["rows"])[::-1]
                values = [w["rows"][k]["points_per_s"] for k in labels]
                colors = ["tab:blue" if k.startswith("adjoint") else "tab:gray" for k in labels]
                bars = ax.barh(labels, values, color=colors)
                ax.bar_label(bars, labels=[f"{v:.3g}/s" for v in values], padding=3, fontsize=8)
                ax.set_title(_wrap(w["title"]), fontsize=9)
                ax.tick_params(axis="y", labelsize=8)
                ax.set_xlim(0, max(values) * 1.3)
            axes[-1, 0].set_xlabel("points (paths) per second, CPU")
        else:
            continue
        fig.tight_layout()
        fig.savefig(plot_dir / file, dpi=110)
        plt.close(fig)
        written.append(file)
    if not written:
        return "No plots written."
    where = plot_dir.relative_to(HERE).as_posix()
    return ("Plots (adjoint's rows in blue; primal ratios on a log scale): " +
            ", ".join(f"`benchmarks/{where}/{f}`" for f in written) + ".")


def _wrap(text, width=95):
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


if __name__ == "__main__":
    raise SystemExit(main())
