"""Output-equivalence snapshots of the compiler, for refactorings that must not change output.

    python -m tests.snapshot OUT_DIR              # write one text file per (function, options)
    python -m tests.snapshot --compare A B        # list the files that differ; exit 1 if any

Every function of the test corpora (tests/corpus.py, array_corpus.py, control_flow_corpus.py,
higher_corpus.py, debugging_corpus.py, fuzz_regressions.py), of examples/, and FUZZ_PROGRAMS
fuzz programs (tests.fuzzing.case(FUZZ_SEED, i), written to files of fixed names in a folder
of this run's own: the names appear in docstrings) is differentiated under each of OPTION_SETS;
a file holds the emitted module, the device module, the origins, and every stage's dump
(adjoint.pipeline.dump), or the error's message. Paths of the checkout, of the Python
environment and of the fuzz programs' folder are masked, so two checkouts compare equal.
Only adjoint.pipeline's differentiate, dump and STAGES are used: the tool runs unchanged on
either side of a reorganization of the package's modules.

The pipeline's output may depend on the iteration order of sets of names, which Python
randomizes per process: the tool reruns itself with PYTHONHASHSEED=0 so that two runs of the
same code write the same files.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import inspect
import os
import sys
import tempfile
import time

import numpy as np

FUZZ_SEED = 777
FUZZ_PROGRAMS = 150

CORPUS_MODULES = ("tests.corpus", "tests.array_corpus", "tests.control_flow_corpus",
                  "tests.higher_corpus", "tests.debugging_corpus", "tests.fuzz_regressions")
EXAMPLE_MODULES = ("examples.bouncing_ball", "examples.gmm", "examples.lorenz", "examples.mlp",
                   "examples.option_greeks", "examples.rosenbrock", "examples.seed_f4")

# name -> keyword arguments of differentiate; "typed" also passes the types of sample arguments
OPTION_SETS = {
    "reverse": {},
    "device": {"device": True},
    "forward": {"mode": "forward"},
    "forward_device": {"mode": "forward", "device": True},
    "cotangent": {"cotangent": True},
    "return_value": {"return_value": True},
    "recompute": {"recompute": True},
    "parallel": {"parallel": True},
    "unoptimized": {"optimized": False},
    "no_comments": {"comments": False},
    "typed": {},
    "typed_device": {"device": True},
}


# --- what to differentiate ---------------------------------------------------------------------

class Subject:
    """One function to differentiate: `wrt`, and sample arguments (for the "typed" options)."""

    def __init__(self, label, fn, wrt=0, args=None):
        self.label, self.fn, self.wrt, self.args = label, fn, wrt, args


def module_functions(module):
    """The functions with parameters a module defines itself (not the ones it imports)."""
    return [fn for _, fn in inspect.getmembers(module, inspect.isfunction)
            if fn.__module__ == module.__name__ and inspect.signature(fn).parameters
            and not fn.__name__.endswith("_twin")]       # autograd's versions: calls of its primitives


def corpus_subjects():
    from tests import corpus
    rng = np.random.default_rng(5)
    subjects, covered = [], set()
    for case in corpus.CORPUS + corpus.FIXED_BUGS:
        wrt = case.wrt if isinstance(case.wrt, tuple) else (case.wrt,)
        label = f"corpus.{case.name}-wrt_{'_'.join(map(str, wrt))}"
        subjects.append(Subject(label, case.fn, case.wrt, case.sample(rng)))
        covered.add(case.fn)
    typed = _typed_samples()
    for name in CORPUS_MODULES + EXAMPLE_MODULES:
        module = importlib.import_module(name)
        for fn in module_functions(module):
            if fn not in covered:
                short = name.split(".")[-1]
                subjects.append(Subject(f"{short}.{fn.__name__}", fn, 0, typed.get(fn)))
                covered.add(fn)
    return subjects


def _typed_samples():
    """Sample arguments of the array and control-flow tests' cases, by function."""
    samples = {}
    from tests import test_arrays, test_control_flow
    for fn, args, *_ in test_arrays.CASES + test_control_flow.CASES:
        samples.setdefault(fn, args)
    return samples


def fuzz_subjects(folder):
    from tests import fuzzing
    subjects = []
    for index in range(FUZZ_PROGRAMS):
        case = fuzzing.case(FUZZ_SEED, index)
        loaded = fuzzing._Loaded(case.source, folder, f"snapshot_fuzz_{index:03d}")
        subjects.append(Subject(f"fuzz.{index:03d}", loaded.module.f, case.wrt, case.points[0]))
    return subjects


# --- one file per (function, options) ----------------------------------------------------------

def describe_type(value):
    """The type differentiate's `signature` expects for a runtime value (the module that
    defines it may have moved: tried where it is now and where it went)."""
    for name in ("adjoint.shapes", "adjoint.analysis.shapes", "adjoint.ir.shapes"):
        try:
            return importlib.import_module(name).describe(value)
        except ImportError:
            continue
    raise ImportError("adjoint's shapes module (describe) was not found")


def render(subject, options_name, masks):
    from adjoint import pipeline
    options = dict(OPTION_SETS[options_name])
    if options_name.startswith("typed"):
        if subject.args is None:
            return None
        names = list(inspect.signature(subject.fn).parameters)
        options["signature"] = {n: describe_type(v) for n, v in zip(names, subject.args)}
    parts = [f"# {subject.label} wrt={subject.wrt!r} options={OPTION_SETS[options_name]!r}"
             + (f" signature={options['signature']!r}" if "signature" in options else "")]
    try:
        generated = pipeline.differentiate(subject.fn, wrt=subject.wrt, **options)
    except Exception as exc:  # noqa: BLE001  (every error is output too)
        parts.append(f"error: {type(exc).__name__}: {exc}")
        return mask("\n".join(parts) + "\n", masks)
    parts += ["== source", generated.source,
              "== device source", generated.device_source,
              "== primal source", generated.primal_source,
              "== name / wrt / array args / signature",
              f"{generated.name} {generated.wrt!r} {sorted(generated.array_args)!r} "
              f"{sorted((k, str(v)) for k, v in (generated.signature or {}).items())!r}",
              "== origins"]
    parts += [f"{line}: {origin!r}" for line, origin in sorted(generated.origins.items())]
    for stage in pipeline.STAGES:
        if stage in generated.stages:
            parts += [f"== stage {stage}", pipeline.dump(generated, stage)]
    return mask("\n".join(parts) + "\n", masks)


def mask(text, masks):
    for path, token in masks:
        text = text.replace(path, token)
    return text


def path_masks(fuzz_folder):
    import adjoint
    root = os.path.dirname(os.path.dirname(os.path.abspath(adjoint.__file__)))
    pairs = [(root, "<checkout>"), (sys.prefix, "<venv>"), (fuzz_folder, "<fuzz>")]
    return sorted({(p, t) for p, t in pairs if p}, key=lambda pair: -len(pair[0]))


def write_snapshots(out_dir, only=()):
    from adjoint.pipeline import deep_recursion  # noqa: F401  (the package imports before timing)
    os.makedirs(out_dir, exist_ok=True)
    fuzz_folder = tempfile.mkdtemp(prefix="adjoint-snapshot-fuzz-")     # (runs may overlap)
    masks = path_masks(fuzz_folder)
    start = time.perf_counter()
    subjects = corpus_subjects() + fuzz_subjects(fuzz_folder)
    if only:
        subjects = [s for s in subjects if s.label in only]
    written = 0
    for subject in subjects:
        for options_name in OPTION_SETS:
            text = render(subject, options_name, masks)
            if text is None:
                continue
            with open(os.path.join(out_dir, f"{subject.label}.{options_name}.txt"), "w",
                      encoding="utf-8") as handle:
                handle.write(text)
            written += 1
    print(f"{written} files for {len(subjects)} functions in {out_dir} "
          f"({time.perf_counter() - start:.0f} s)")


def compare(a, b) -> int:
    names_a, names_b = set(os.listdir(a)), set(os.listdir(b))
    differing = sorted(n for n in names_a & names_b
                       if not filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False))
    for name in sorted(names_a - names_b):
        print(f"only in {a}: {name}")
    for name in sorted(names_b - names_a):
        print(f"only in {b}: {name}")
    for name in differing:
        print(f"differs: {name}    (diff {os.path.join(a, name)} {os.path.join(b, name)})")
    count = len(differing) + len(names_a ^ names_b)
    print(f"{len(names_a & names_b)} files compared, {count} difference{'s' * (count != 1)}")
    return 1 if count else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.snapshot", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", help="folder to write the snapshot files into")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two snapshot folders")
    parser.add_argument("--only", default="", help="comma-separated labels (corpus.f4-wrt_0, fuzz.007): "
                                                   "just these functions, to recheck differing files")
    options = parser.parse_args(argv)
    if options.compare:
        return compare(*options.compare)
    if not options.out_dir:
        parser.error("give OUT_DIR or --compare A B")
    if os.environ.get("PYTHONHASHSEED") != "0":          # set iteration order fixed: rerun
        os.execve(sys.executable, [sys.executable, "-m", "tests.snapshot", *sys.argv[1:]],
                  {**os.environ, "PYTHONHASHSEED": "0"})
    write_snapshots(options.out_dir, [label for label in options.only.split(",") if label])
    return 0


if __name__ == "__main__":
    sys.exit(main())
