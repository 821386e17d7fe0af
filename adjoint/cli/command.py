"""The `adjoint` command: show, check and export the gradient of a function in a file.

    adjoint show examples/seed_f4.py:f4                 the emitted gradient source
    adjoint show examples/seed_f4.py:f4 --stage normalize
    adjoint show mypackage.model:loss --wrt w,b         import by module name
    adjoint check examples/seed_f4.py:f4 --at 1,2,3,4   compare with finite differences
    adjoint check model.py:loss --at "0.5,1.5;2"        ';' separates arguments
    adjoint export examples/seed_f4.py:f4 -o grad_f4.py a standalone module

Exit codes:
    0  success
    1  check: the gradient differs from finite differences
    2  usage error: bad arguments, missing file or function, non-numeric --at
    3  the function cannot be differentiated (a compiler-style diagnostic: file:line:col,
       the line, a caret and a hint), or fails while its gradient is computed
    4  the file fails to import or execute (a SyntaxError is shown as file:line:col with a caret)

`--traceback` (before or after the subcommand) prints the full traceback instead of the
one-diagnostic summary. `python -m adjoint` runs the same command.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import linecache
import os
import re
import sys
import traceback
import types

from .diagnostics import describe_failure, describe_load_error
from .inputs import UsageError, parse_at, parse_types, parse_wrt

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_DIFFERENTIATE, EXIT_LOAD = 0, 1, 2, 3, 4
MODULE_NAME = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"

EPILOG = """\
examples:
  adjoint show examples/seed_f4.py:f4
  adjoint show examples/seed_f4.py:f4 --stage normalize --no-comments
  adjoint show mypackage.model:loss --wrt w,b
  adjoint check examples/seed_f4.py:f4 --at 1,2,3,4
  adjoint check model.py:loss --at "0.5,1.5;2" --target python
  adjoint export examples/seed_f4.py:f4 -o grad_f4.py

FUNC is FILE.py:NAME or module.name:NAME. --wrt takes argument names or indices.

exit codes:
  0  success
  1  check: the gradient differs from finite differences
  2  usage error (bad arguments, missing file or function, non-numeric --at)
  3  the function cannot be differentiated (diagnostic with file:line:col, caret, hint)
  4  the file fails to import or execute (e.g. a SyntaxError in it)
"""


class LoadError(Exception):
    """The user's file (or module) raised while being imported: exit 4."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


# entry point ----------------------------------------------------------------------------------

def main(argv=None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    argv = _attach_negative_at(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:                     # --help, --version, or an argparse error
        return _exit_code(exc.code)
    show_traceback = getattr(args, "traceback", False)
    try:
        return args.handler(args)
    except BrokenPipeError:                       # `adjoint show ... | head`
        _silence_stdout()
        return EXIT_OK
    except UsageError as exc:
        _error(f"adjoint {args.command}: error: {exc.message}", exc.hint)
        return EXIT_USAGE
    except LoadError as exc:
        if show_traceback:
            traceback.print_exception(exc.original, file=sys.stderr)
        else:
            print(describe_load_error(exc.original), file=sys.stderr)
        return EXIT_LOAD
    except Exception as exc:
        from ..errors import AdjointArgumentError, AdjointError
        if show_traceback:
            traceback.print_exc(file=sys.stderr)
        elif isinstance(exc, AdjointArgumentError):           # --at does not fit the function
            _error(f"adjoint {args.command}: error: {exc}")
        elif isinstance(exc, AdjointError):
            print(str(exc) if exc.location is not None else f"adjoint: {exc}", file=sys.stderr)
        else:
            print(describe_failure(exc), file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, AdjointArgumentError) else EXIT_DIFFERENTIATE


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ..pipeline import STAGES

    parser = argparse.ArgumentParser(
        prog="adjoint", description="Source-to-source reverse-mode automatic differentiation:\n"
        "show, check and export the gradient of a Python function.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"adjoint {__version__}")
    parser.add_argument("--traceback", action="store_true", default=False,
                        help="show the full traceback instead of one diagnostic")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("function", metavar="FILE.py:FUNC",
                        help="the function: path/to/file.py:name or package.module:name")
    common.add_argument("--wrt", metavar="ARGS",
                        help="comma-separated argument names or indices to differentiate "
                             "against (default: the first argument)")
    common.add_argument("--types", metavar="TYPES",
                        help="argument types the source alone does not tell, in numba's "
                             'spelling: "W=float64[:,:,:], x=float64[:], n=int64" (the others '
                             "are guessed from how the function uses them)")
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback instead of one diagnostic")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    show = commands.add_parser("show", parents=[common], help="print the emitted gradient source",
                               description="Print the gradient adjoint emits for FUNC, or the "
                               "output of an earlier compiler stage.",
                               epilog="example: adjoint show examples/seed_f4.py:f4 --stage normalize",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("--stage", choices=STAGES, default="emit",
                      help="the compiler stage whose output to print (default: emit)")
    show.add_argument("--no-comments", action="store_true",
                      help="leave out the comments that tie generated lines to yours")
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="highlight with pygments (auto: when stdout is a terminal)")
    show.add_argument("--target", choices=("cpu", "python", "cuda"), default="cpu",
                      help="cuda shows the allocation-free device code (default: cpu, whose "
                           "code is the python target's)")
    show.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                      help="reverse: the gradient (default); forward: the tangent (jvp) code")
    show.add_argument("--no-optimize", action="store_true",
                      help="the adjoint as the reverse transformation writes it, before optimization")
    show.add_argument("--timing", action="store_true",
                      help="also print each compiler stage's CPU time to stderr")
    show.set_defaults(handler=_show)

    check = commands.add_parser("check", parents=[common],
                                help="compare the gradient with finite differences",
                                description="Compute FUNC's gradient at a point and compare each "
                                "component with central finite differences. The gradient is "
                                "compiled with bounds checks: an index outside an array is "
                                "reported as an IndexError at your line (exit 3).",
                                epilog='examples:\n  adjoint check examples/seed_f4.py:f4 --at 1,2,3,4\n'
                                       '  adjoint check model.py:loss --at "0.5,1.5;2"   '
                                       '(";" separates arguments)\n'
                                       '  adjoint check model.py:h --at "1,2,3;3" --wrt a  '
                                       "(an array a and a count n)\n\n"
                                       "exit 0 when every component agrees, 1 otherwise",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--at", required=True, metavar="VALUES",
                       help='the point: comma-separated numbers ("1,2,3,4"): the elements of a '
                            'single array argument, or one number per scalar argument; separate '
                            'arguments with ";" ("1,2,3;4")')
    check.add_argument("--target", choices=("cpu", "python"), default="cpu",
                       help="compile the gradient with numba (cpu, default) or run it as Python")
    check.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    check.add_argument("--atol", type=float, default=1e-7, help="absolute tolerance (default 1e-7)")
    check.add_argument("--eps", type=float, default=None,
                       help="finite-difference step (default 1e-6 * max(1, |x|) per component)")
    check.set_defaults(handler=_check)

    export = commands.add_parser("export", parents=[common],
                                 help="write the gradient as a standalone module",
                                 description="Write the emitted gradient module (it imports only "
                                 "math and numpy) to a file and print its path.",
                                 epilog="example: adjoint export examples/seed_f4.py:f4 -o grad_f4.py",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("-o", "--output", metavar="PATH",
                        help="the file to write (default: grad_<FUNC>.py in the current directory)")
    export.add_argument("--no-comments", action="store_true",
                        help="leave out the comments that tie generated lines to yours")
    export.set_defaults(handler=_export)

    cache = commands.add_parser("cache", help="show or clear the on-disk cache of gradients",
                                description="The cache of generated gradients and their machine "
                                "code, on by default for the cpu target (ADJOINT_CACHE=0 turns it "
                                "off; the folder is ADJOINT_CACHE_DIR, default ~/.cache/adjoint): "
                                "`info` lists it, `clear` removes its entries and their machine code.")
    cache.add_argument("action", choices=("info", "clear"))
    cache.set_defaults(handler=_cache)
    return parser


# subcommands ----------------------------------------------------------------------------------

def _show(args) -> int:
    from .. import pipeline

    fn, wrt = resolve(args.function, args.wrt)
    comments = not args.no_comments
    device = args.stage == "device" or args.target == "cuda"
    signature = parse_types(args.types, fn) if args.types else pipeline.guessed_signature(fn, wrt)
    generated = pipeline.differentiate(fn, wrt=wrt, comments=comments, device=device,
                                       optimized=not args.no_optimize, mode=args.mode,
                                       signature=signature)
    stage = "device" if args.target == "cuda" and args.stage == "emit" else args.stage
    text = pipeline.dump(generated, stage, comments=comments)
    if not text.endswith("\n"):
        text += "\n"
    if args.stage != "analyze" and _use_color(args.color, sys.stdout):
        text = _highlight(text)
    sys.stdout.write(text)
    if not args.types and any(kind.is_array for kind in (generated.signature or {}).values()):
        # an array's rank is a guess the reader should know about, and how to choose others
        guessed = ", ".join(f"{name}={_numba_spelling(kind)}" for name, kind in generated.signature.items())
        print(f"adjoint show: argument types guessed from the source: {guessed} "
              "(--types \"NAME=TYPE, ...\" shows the code for others)", file=sys.stderr)
    if args.timing:
        print(f"{generated.primal_name}: {pipeline.timing_summary(generated.timings)}", file=sys.stderr)
    return EXIT_OK


def _numba_spelling(kind) -> str:
    """shapes.Type as --types spells it: float64[:, :], int64, boolean."""
    scalar = {"float": "float64", "int": "int64", "bool": "boolean"}.get(kind.kind)
    if scalar is None:
        return str(kind)
    return scalar + ("[" + ", ".join(":" * kind.ndim) + "]" if kind.ndim else "")


def _check(args) -> int:
    import numpy as np

    from .. import pipeline, testing

    fn, wrt = resolve(args.function, args.wrt)
    generated = pipeline.differentiate(fn, wrt=wrt, signature=parse_types(args.types, fn))
    names = list(inspect.signature(fn).parameters)
    values = parse_at(args.at, names, set(generated.array_args), set(generated.wrt), fn.__name__)
    # bounds checked: an index past an array's end is an IndexError at the user's line, not
    # a read or write outside the arrays (which the compiled code does not check otherwise)
    result = testing.check_grad(fn, *values, wrt=wrt, target=args.target, rtol=args.rtol,
                                atol=args.atol, eps=args.eps, debug=True)
    where = ", ".join(f"{name}={np.array2string(v, separator=', ') if isinstance(v, np.ndarray) else v}"
                      for name, v in zip(names, values))
    print(f"gradient of {fn.__name__} wrt {', '.join(generated.wrt)} at {where} (target {args.target}):")
    print(result.table())
    return EXIT_OK if result.ok else EXIT_MISMATCH


def _export(args) -> int:
    from .. import pipeline

    fn, wrt = resolve(args.function, args.wrt)
    generated = pipeline.differentiate(fn, wrt=wrt, comments=not args.no_comments,
                                       signature=parse_types(args.types, fn), converts_arguments=True)
    output = args.output or f"{generated.name}.py"
    if os.path.exists(output) and os.path.samefile(output, generated.filename):
        raise UsageError(f"refusing to overwrite the input file {output}",
                         hint="choose another path with -o")
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(generated.source)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(output)
    if generated.namespace:
        names = ", ".join(sorted(generated.namespace))
        print(f"note: {output} calls {names} from {generated.filename}; define or import "
              f"{'it' if len(generated.namespace) == 1 else 'them'} there before calling "
              f"{generated.name}", file=sys.stderr)
    return EXIT_OK


def _cache(args) -> int:
    from ..api import cache

    if args.action == "clear":
        removed = cache.clear()
        print(f"removed {len(removed['entries'])} gradient{'s' if len(removed['entries']) != 1 else ''} "
              f"({removed['files']} files, {_size(removed['bytes'])}) from {removed['folder']}")
        return EXIT_OK
    found = cache.info()
    print(f"cache folder: {found['folder']}")
    print(f"default: {found['default']}")
    print(f"{len(found['entries'])} gradient{'s' if len(found['entries']) != 1 else ''}, "
          f"{found['files']} files, {_size(found['bytes'])}")
    for name in found["entries"]:
        print(f"  {name}")
    return EXIT_OK


def _size(count) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if count < 1024 or unit == "MiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024


# loading FILE.py:FUNC -------------------------------------------------------------------------

def resolve(target: str, wrt_text):
    """`FILE.py:FUNC` or `module:FUNC` -> (plain Python function, wrt for pipeline/grad)."""
    location, sep, qualname = target.rpartition(":")
    if not sep or not location or not qualname:
        raise UsageError(f"expected FILE.py:FUNC or module:FUNC, got {target!r}",
                         hint="e.g. adjoint show examples/seed_f4.py:f4")
    if _looks_like_file(location):
        module = load_file(location)
        where = location
    else:
        module = import_module(location)
        where = f"module {location}"
    obj = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{where} has no function {qualname!r}", hint=_candidates(module, qualname))
        obj = getattr(obj, part)
    default_wrt = getattr(obj, "wrt", 0) if hasattr(obj, "__adjoint_function__") else 0
    fn = getattr(obj, "__adjoint_function__", obj)        # an adjoint.grad(...) object
    fn = getattr(fn, "py_func", fn)                       # a numba dispatcher
    if not isinstance(fn, types.FunctionType):
        raise UsageError(f"{where}:{qualname} is {_a(type(obj).__name__)}, not a function",
                         hint=_candidates(module, qualname))
    return fn, parse_wrt(wrt_text, fn) if wrt_text is not None else default_wrt


def _looks_like_file(location: str) -> bool:
    """A .py name or an existing file; otherwise a dotted module name if it is one."""
    if location.endswith((".py", ".pyw")) or os.path.isfile(location):
        return True
    return not re.fullmatch(MODULE_NAME, location)


def load_file(path: str):
    """Execute the file as a module (registered in sys.modules, its directory importable)."""
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory", hint="name a .py file: path/to/file.py:FUNC")
    path = os.path.normpath(path)
    absolute = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"_adjoint_cli_{stem}_{hashlib.sha1(absolute.encode()).hexdigest()[:12]}"
    directory = os.path.dirname(absolute)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    linecache.checkcache(path)                            # the file may have changed since
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}", hint="name a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module                            # inspect.getsource needs it
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise LoadError(exc) from None
    return module


def import_module(name: str):
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(f"no module named {exc.name!r}",
                             hint="give a file path (path/to/file.py:FUNC), or run adjoint "
                                  "where the package is importable") from None
        raise LoadError(exc) from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise LoadError(exc) from None


def _candidates(module, wanted) -> str | None:
    names = sorted(n for n, v in vars(module).items() if not n.startswith("_") and
                   (inspect.isfunction(v) and v.__module__ == module.__name__
                    or hasattr(v, "__adjoint_function__")))
    if not names:
        return f"{getattr(module, '__file__', module.__name__)} defines no functions"
    close = difflib.get_close_matches(wanted, names, n=1)
    listed = f"functions defined there: {', '.join(names)}"
    return f"did you mean {close[0]!r}? {listed}" if close else listed


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# --wrt and --at -------------------------------------------------------------------------------

def _attach_negative_at(argv):
    """`--at -1,2` -> `--at=-1,2`: argparse would take -1,2 for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--at" and i + 1 < len(argv) and \
                re.match(r"-(\d|\.\d|inf|nan)", argv[i + 1], re.IGNORECASE):
            out.append(f"--at={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


# output ---------------------------------------------------------------------------------------

def _use_color(choice: str, stream) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _highlight(text: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:                                   # pip install adjoint[color]
        return text
    return highlight(text, PythonLexer(), TerminalFormatter())


def _error(message: str, hint: str | None = None) -> None:
    print(message, file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # no real file descriptor (e.g. captured)
        pass


def _exit_code(code) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE
