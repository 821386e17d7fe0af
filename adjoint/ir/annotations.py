"""Node annotations: the facts a stage attaches to a gast node for a later stage to read.

A gast node holds its fields (`targets`, `value`, ...) and positions (`lineno`, ...); the
stages also note facts on nodes that no field holds: which Python object a call resolved to,
the user's line a statement came from, that a statement is a primal line or a loop's exit.
Each such annotation is declared once, in ANNOTATIONS below (what it means, which stage sets
it, which read it, its value where it is not set, and whether it still holds of a rebuilt
node), and is read and written only through this module:

    annotations.get(node, "callee")              the value, or the declared default
    annotations.set(node, "keep", True)
    annotations.has(node, "callee")              set on this node (whatever its value)
    annotations.drop(node, "carried")
    annotations.copy_to(new, old)                a pass that rebuilds `old` as `new`

A name not declared here raises UnknownAnnotation, so that a misspelt annotation fails
loudly instead of reading as its default forever. The values live in the node's __dict__
(as gast's own attributes do): copy.copy, nodes.clone and deepcopy keep them; a node built
afresh has none, which is what copy_to is for.
"""

from __future__ import annotations

import dataclasses
import difflib


@dataclasses.dataclass(frozen=True)
class Annotation:
    name: str
    on: str                  # the nodes that carry it
    meaning: str
    set_by: str              # the modules that set it
    read_by: str             # the modules that read it
    default: object          # its value on a node that does not carry it
    survives_rebuild: bool   # copy_to carries it: it still holds of a node rebuilt from this one


ANNOTATIONS = {a.name: a for a in (
    Annotation("callee", "Call",
               "the Python object the call resolves to (a rule's primitive, a user helper, range...)",
               set_by="frontend/parse, frontend/normalize",
               read_by="frontend/parse, frontend/validate, frontend/views, frontend/normalize, ir/grammar, analysis/shapes "
                       "(a call's type: lower/for_numba keeps it on the calls it rewrites), api/arguments",
               default=None, survives_rebuild=True),
    Annotation("fused", "Call",
               "a numpy ufunc call inside an elementwise expression the optimizer fused (its operands "
               "written in, not stored): numba's own loop computes it with the rest, where a numpy-loop "
               "helper would make an array of it",
               set_by="optimize/fuse", read_by="lower/for_numba",
               default=False, survives_rebuild=True),
    Annotation("source_text", "statement",
               "the user's line the statement comes from (a compound statement's without its colon), "
               "shown in comments of the emitted code and in diagnostics",
               set_by="frontend/parse; ir/nodes.located gives it to every node derived from one",
               read_by="transforms/reverse, frontend/views",
               default="", survives_rebuild=True),
    Annotation("source_file", "statement",
               "the file the statement comes from, where it is not the differentiated function's "
               "(an inlined helper's): emitted lines and error locations map back to it",
               set_by="frontend/normalize; ir/nodes.located gives it to every node derived from one",
               read_by="lower/emit, transforms/reverse, errors.locate (directly: errors sits below ir)",
               default=None, survives_rebuild=True),
    Annotation("renamed", "Name",
               "already normalized and renamed (an inlined helper's name, or the middle operand of "
               "a chained comparison): not renamed again",
               set_by="frontend/normalize", read_by="frontend/normalize",
               default=False, survives_rebuild=True),
    Annotation("snapshot_budget", "For, While",
               "the loop's own snapshot budget, from `adjoint.checkpointed(range(n), K)` or a "
               "`# adjoint: checkpoints=K` comment on its line: a whole number or a parameter's name",
               set_by="frontend/markers (through desugar), frontend/normalize keeps it on the loop it rebuilds",
               read_by="transforms/reverse", default=None, survives_rebuild=True),
    Annotation("loop_exit", "If",
               "the `if t_stop: break` that ends a loop structured from breaks and continues",
               set_by="frontend/structure", read_by="transforms/reverse, optimize/passes",
               default=False, survives_rebuild=True),
    Annotation("primal", "statement",
               "a line of the user's function kept in the forward sweep for readability: dead code "
               "elimination keeps it, and the device lowering tells the user's arrays from tapes by it",
               set_by="transforms/reverse, lower/device (clears it on its copies)",
               read_by="optimize/passes, optimize/tidy, lower/device",
               default=False, survives_rebuild=True),
    Annotation("keep", "comment",
               "a comment kept even where the statements it describes are removed",
               set_by="transforms/reverse, optimize/chunks", read_by="optimize/passes",
               default=False, survives_rebuild=True),
    Annotation("block_head", "comment",
               "the `# <user line>` comment heading one user line's block: a run of them from the "
               "same line shows once",
               set_by="transforms/reverse", read_by="transforms/reverse",
               default=False, survives_rebuild=True),
    Annotation("full_shape", "AugAssign",
               "the sensitivity update `s += e` adds an array of s's own shape: with s zero it may "
               "become `s = e`",
               set_by="transforms/reverse", read_by="optimize/passes",
               default=False, survives_rebuild=False),
    Annotation("alias_of", "AugAssign",
               "the name e where the update `s += e` adds a whole array of s's shape that is a name: "
               "`s = e` then shares it, safe while neither changes in place",
               set_by="transforms/reverse", read_by="optimize/passes",
               default=None, survives_rebuild=False),
    Annotation("exact_shape", "expression",
               "an array rule's contribution that has its operand's exact shape",
               set_by="analysis/activity", read_by="transforms/reverse",
               default=False, survives_rebuild=False),
    Annotation("broadcast_view", "expression, AugAssign",
               "the contribution (and the update adding it) is a read-only np.broadcast_to view: "
               "`s = view` is safe where s is only read elementwise",
               set_by="analysis/activity, transforms/reverse", read_by="transforms/reverse, optimize/passes",
               default=False, survives_rebuild=False),
    Annotation("full_partial", "BinOp",
               "the product `partial * s` of an elementwise line's partial, which provably has the "
               "full shape of the line's result, and its sensitivity s: s may be any array that "
               "broadcasts to that shape (the un-broadcast seed of a sum along an axis)",
               set_by="transforms/reverse", read_by="optimize/unbroadcast",
               default=False, survives_rebuild=False),
    Annotation("checkpoint", "Assign",
               "a tape push saving a loop-carried value at a checkpoint (not an element write of the "
               "user's)",
               set_by="transforms/tapes", read_by="transforms/tapes",
               default=False, survives_rebuild=True),
    Annotation("first_iteration", "If",
               "the `if k == 0:` block of a forward loop's first iteration, where tapes are allocated "
               "(optimize/allocate allocates there once, too; optimize/tidy merges a loop's blocks)",
               set_by="transforms/tapes", read_by="optimize/allocate, optimize/tidy",
               default=False, survives_rebuild=True),
    Annotation("also_writes", "Assign",
               "the arrays a runtime helper called by the statement writes into, besides its target",
               set_by="transforms/tapes", read_by="optimize/passes, optimize/chunks, optimize/tidy",
               default=frozenset(), survives_rebuild=True),
    Annotation("carried", "For",
               "array -> carry.Carried: the loop's scatter-adds rewritten as scalar carries",
               set_by="optimize/carry, optimize/chunks (drops it from a chunk's inner loop)",
               read_by="optimize/carry, optimize/chunks",
               default=None, survives_rebuild=False),
    Annotation("grown_list", "Assign",
               "the store `v[count] = e` a list grown by `v.append(e)` in a loop became (its user "
               "name): only numbers grow so, and a type error there says so",
               set_by="frontend/tuples", read_by="analysis/shapes",
               default=None, survives_rebuild=False),
    Annotation("data_arguments", "FunctionDef",
               "the DataSources (frontend/parse) of the arrays the function reads from module globals "
               "or closure cells: the normalized function takes them as parameters after the user's",
               set_by="frontend/normalize", read_by="analysis/shapes, api/arguments",
               default=(), survives_rebuild=False),
    Annotation("constant_sources", "FunctionDef",
               "the ConstantSources (frontend/parse) of the numbers inlined from module globals or "
               "closure cells: a call checks they still hold",
               set_by="frontend/normalize", read_by="api/arguments",
               default=(), survives_rebuild=False),
    Annotation("runtime_helpers", "FunctionDef",
               "the names of the runtime helpers (primitives/runtime) the adjoint calls",
               set_by="transforms/reverse, transforms/forward", read_by="pipeline",
               default=(), survives_rebuild=True),
    Annotation("data_arguments", "FunctionDef",
               "the arrays the function reads from module globals or closure cells (DataSources), "
               "passed after the user's arguments",
               set_by="frontend/normalize", read_by="analysis/shapes, api/arguments",
               default=(), survives_rebuild=True),
    Annotation("constant_sources", "FunctionDef",
               "the module constants parse inlined, with where each was read from, so that a "
               "call can tell when one has changed",
               set_by="frontend/normalize", read_by="api/arguments",
               default=(), survives_rebuild=True),
)}

_DEFAULTS = {name: a.default for name, a in ANNOTATIONS.items()}
_SURVIVING = tuple(name for name, a in ANNOTATIONS.items() if a.survives_rebuild)

# the annotations ir/nodes.located passes from a node to each node derived from it
LOCATION = ("source_text", "source_file")


class UnknownAnnotation(LookupError):
    """An annotation name not declared in ANNOTATIONS (a typo, or one to declare there)."""


def _unknown(name) -> UnknownAnnotation:
    close = difflib.get_close_matches(str(name), ANNOTATIONS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UnknownAnnotation(f"no node annotation {name!r} is declared in adjoint/ir/annotations.py{hint}")


def get(node, name: str):
    """The annotation `name` of `node`, or its declared default where it is not set."""
    try:
        default = _DEFAULTS[name]
    except KeyError:
        raise _unknown(name) from None
    return node.__dict__.get(name, default)


def set(node, name: str, value) -> None:   # noqa: A001 (annotations.set reads as what it does)
    if name not in _DEFAULTS:
        raise _unknown(name)
    node.__dict__[name] = value


def has(node, name: str) -> bool:
    """Whether `node` carries `name` (with any value, the default included)."""
    if name not in _DEFAULTS:
        raise _unknown(name)
    return name in node.__dict__


def drop(node, name: str) -> None:
    """Remove `name` from `node` (absent already: nothing to do)."""
    if name not in _DEFAULTS:
        raise _unknown(name)
    node.__dict__.pop(name, None)


def copy_to(new, old):
    """Give `new`, a node a pass rebuilt from `old`, the annotations of `old` that survive a
    rebuild (those describing what `new` still is); returns `new`. The others describe the
    old node's exact value and must be worked out again by whoever needs them."""
    known, into = old.__dict__, new.__dict__
    for name in _SURVIVING:
        if name in known:
            into[name] = known[name]
    return new


def on(node) -> dict:
    """The annotations `node` carries: name -> value (for tests and debugging)."""
    return {name: value for name, value in node.__dict__.items() if name in _DEFAULTS}
