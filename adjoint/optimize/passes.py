"""Make the adjoint as lean as a hand-written one.

    s_ret = 1.0                          s_s += 2.0
    s_s += 2.0 * s_ret          ->       s_1 = t_b * s_s
    s_1 = 0.0                            (the unused tape, replay and sensitivities are gone)
    s_1 += t_b * s_s

Passes, run in order until none changes anything (each returns whether it did):
fold_constants (1.0 * e, x ** 1.0, 2 - 1.0), propagate_seed (the seed 1.0 into its uses),
first_accumulation (s = 0.0; s += e  ->  s = e, for sensitivities of temporaries; user-named
sensitivities keep the seed's `+=` form; a sum's broadcast sensitivity stays a read-only view
where it is only read elementwise), eliminate_dead_code (strong liveness: unused
sensitivities, dead stores, replayed statements and checkpoints nothing reads); then, once,
allocate_once (allocate.py: a reverse loop's zero sensitivity arrays are allocated at the
forward loop's first iteration and reset in each reverse one) and carry_scatter_adds (carry.py:
reverse loops keep neighbouring `s_x[i] += e` in registers); last, on reverse host code,
unbroadcast_seeds (unbroadcast.py: a sum's broadcast seed that only products with arrays of
its whole shape read is left un-broadcast) and fuse_elementwise (fuse.py: top-level elementwise array temporaries are written into their
readers, which numba fuses into one loop each, instead of being kept).
"""

from __future__ import annotations

import bisect
import copy
import math

import gast

from ..ir import annotations, nodes
from .allocate import allocate_once
from .carry import carry_scatter_adds
from .chunks import run_in_chunks
from .dce import _reads_before_write, drop_orphan_comments, eliminate_dead_code
from .fuse import fuse_elementwise
from .fuse_loops import fuse_loop_bodies
from .summaries import (
    _COMPOUND,
    _COMPOUND_TYPES,
    _all_statements,
    _atom_loads,
    _blocks,
    _fresh_calls,
    _headers,
    _name_target,
    _own_blocks,
    _Summaries,
    _with_reads_replaced,
    _write_counts,
)
from .tidy import regroup_trades, tidy
from .unbroadcast import unbroadcast_seeds


def optimize(fn: gast.FunctionDef, namer, roots=(), vectors=frozenset(), store_once=True,
             parallel=False, scalars=frozenset(), arrays=frozenset()) -> gast.FunctionDef:
    """`vectors`: the rank-1 sensitivity arrays, whose elements reverse loops may carry;
    `store_once`: a carried array a loop covers whole is stored, not zero-filled (carry.py;
    False for device code, whose gradient rows arrive zeroed); `parallel`: carried loops that
    are provably race-free run in chunks on all threads (chunks.py), `scalars` being the names
    known to hold scalars; `arrays`: the names known to hold arrays, whose top-level
    elementwise code is fused (fuse.py; none given: none fused).
    No node of `fn` changes: the pipeline keeps it as the "reverse" stage, and its forward
    sweep shares statements with the normalized function (the "normalize" stage, which
    arguments.written_arguments reads). Copying it whole took a third of this stage's time, so only
    the function, its compound statements and their blocks are copied (_own_blocks), and the
    passes change those in place; any other statement or expression that changes is a new
    node sharing what did not (copy on write)."""
    original, fn = fn, _own_blocks(fn)
    summaries = _Summaries()
    sensitivities = namer.sensitivities
    temporaries = namer.named_sensitivities(namer.temporaries)       # those of t_1, t_2, ...
    returned = {namer.sensitivity(a.id) for a in fn.args.args}      # their dtype is the input's
    # each pass, and the passes whose changes may give it work: all, but that folding and
    # forwarding copies leave nothing to fold or forward again (idempotent), and that dead
    # code is neither left by removing dead code nor by forwarding a copy (its readers read
    # its source instead, which nothing writes in between)
    everything = {"fold", "seed", "zero", "dead", "copies"}
    # in code without loops and zero arrays, some changes are known to give fewer passes work
    # (_Wakes): on long straight code, this spares the second round of most passes
    zero_arrays = _has_zero_arrays(fn)        # no pass makes one: asked once, not every round
    wakes = _Wakes(not _has_loops(fn) and not zero_arrays, sensitivities)
    wakes.zero_arrays = zero_arrays
    passes = [("fold", lambda: fold_constants(fn, summaries), everything - {"fold"}),
              ("seed", lambda: wakes.after_seed(fn, summaries), everything),
              ("zero", lambda: wakes.after_zero(fn, temporaries, sensitivities, returned, summaries),
               everything),
              ("dead", lambda: wakes.after_dead(fn, set(roots), summaries), {"fold", "seed", "zero"}),
              ("copies", lambda: wakes.after_copies(fn, temporaries, summaries), everything - {"copies"})]
    _run_to_fixpoint(passes, rounds=20)
    allocate_once(fn, sensitivities)
    if carry_scatter_adds(fn, namer, vectors, store_once=store_once):
        fold_constants(fn, summaries)
        if parallel:
            run_in_chunks(fn, namer, scalars)
    tidy(fn, original, summaries, scalars)
    if arrays and unbroadcast_seeds(fn):
        eliminate_dead_code(fn, set(roots), summaries)     # (the view's recorded shape)
    if arrays and fuse_elementwise(fn, (namer.temporaries | sensitivities) - returned, arrays, scalars, roots):
        fold_constants(fn)                   # `s_x += -(0.5 * x)` -> `s_x -= 0.5 * x`
    if arrays:
        fuse_loop_bodies(fn, (namer.temporaries | sensitivities) - returned, arrays, roots)
    if store_once:                           # (device code keeps the names' own copies)
        regroup_trades(fn, namer.temporaries, summaries)
    drop_orphan_comments(fn)
    _fresh_calls(fn.body, summaries)
    return fn


def _run_to_fixpoint(passes, rounds):
    """Run `passes` (each a triple: a name, a function returning whether it changed anything,
    and the names of the passes whose changes may give it work) in turn, round after round,
    each only while some change since its last run may give it work. Before, a whole round
    ran again to confirm that nothing changed: on long functions, a third of this stage.
    A pass that knows more of what it changed this time may return, instead of True, the set
    of the passes its changes may give work to (among those declared; maybe none)."""
    due = [name for name, _, _ in passes]              # the passes that may have work
    for _ in range(rounds):
        for name, run, woken_by in passes:
            if name in due:
                due.remove(name)
                changed = run()
                if changed is False or changed is None:
                    continue
                due += [other for other, _, wakers in passes if name in wakers and other not in due
                        and (changed is True or other in changed)]
        if not due:
            return


class _Wakes:
    """first_accumulation, eliminate_dead_code and forward_copies as passes of the fixpoint,
    each returning the passes its changes may give work to. In `straight` code (no loops, no
    zero arrays; branches allowed) that is fewer than declared:
    * first_accumulation's `s = e` (was `s += e`) leaves s non-zero as before, unless e is
      0.0, and makes no seed (s is written by its `s = 0.0` too); e was folded (or else fold
      is due anyway), but `s = -e` may fold if e is a number or a negation. Dead code and
      copies may follow.
    * propagate_seed's statements, now reading a number, may fold (tried on them) or be new
      seeds (`s_2 = 1.0`).
    * a dead store removed changes no `s += e` from non-zero to zero (its value is not read
      on any path after it, so a write comes first on each path to such a statement); fewer
      writes may leave a seed written once.
    * a copy of a name forwarded: a read of one name becomes a read of another (nothing to
      fold, no new constant); a copy of a number may give every pass work.
    Loops (whose zero state is approximated from what their body writes) and zero arrays
    (whose rewrites count reads and in-place writes) keep the declared dependencies."""

    def __init__(self, straight, sensitivities):
        self.straight = straight
        self.sensitivities = sensitivities
        self.zero_arrays = None                  # whether the function has any (None: ask)

    def after_seed(self, fn, summaries):
        replaced = []
        if not propagate_seed(fn, self.sensitivities, summaries, replaced=replaced):
            return False
        if not self.straight:
            return True
        woken = {"zero", "dead", "copies"}
        if any(_Fold({}).visit(stmt) is not stmt for stmt in replaced):
            woken.add("fold")
        if any(_copy_of(stmt, self.sensitivities) and _number(stmt.value) for stmt in replaced):
            woken.add("seed")                                # `s_2 = s_1` became `s_2 = 1.0`
        return woken

    def after_zero(self, fn, temporaries, in_loops, returned, summaries):
        rewritten = []
        if not first_accumulation(fn, temporaries, in_loops, returned, summaries, rewritten=rewritten,
                                  zero_arrays=self.zero_arrays):
            return False
        if not self.straight:
            return True
        woken = {"dead", "copies"}
        if any(type(value) is gast.UnaryOp and (_number(value.operand) or _is_negation(value.operand))
               for value in rewritten):
            woken.add("fold")                                # -2.0, -(-x)
        if any(_is(value, 0.0) for value in rewritten):
            woken.add("zero")                                # s = 0.0: zero again
        return woken

    def after_dead(self, fn, roots, summaries):
        if not eliminate_dead_code(fn, roots, summaries):
            return False
        return {"seed"} if self.straight else True

    def after_copies(self, fn, temporaries, summaries):
        sources = []
        if not forward_copies(fn, temporaries, summaries, forwarded_sources=sources):
            return False
        if not self.straight or any(type(source) is not gast.Name for source in sources):
            return True
        return set()


def _is_negation(node) -> bool:
    return type(node) is gast.UnaryOp and type(node.op) is gast.USub


def _has_loops(fn) -> bool:
    return not {gast.For, gast.While}.isdisjoint(map(type, _all_statements(fn.body)))


# constants ----------------------------------------------------------------------------------

def _number(node):
    return isinstance(node, gast.Constant) and type(node.value) in (int, float)


def _is(node, value):
    return _number(node) and node.value == value


_LEAVES = frozenset((gast.Name, gast.Constant))       # nothing folds in them (nor under a name)


class _Fold:
    """Folds bottom-up, children first (a hand-written traversal: NodeTransformer's generic
    one took most of this pass's time on long functions), copying only what changes. A
    folded statement is folded for good (a fold leaves nothing another would fold), so each
    statement is folded once, when it first appears (`folded`)."""
    changed = False

    def __init__(self, folded, fn=None):
        self.folded = folded
        self.fn = fn
        self.written = None                 # _in_place_writes(fn), once a fold needs it
        self.groups = None                  # nodes.memory_groups(fn.body), with it

    def block(self, stmts):
        for k, stmt in enumerate(stmts):
            if type(stmt) in _COMPOUND_TYPES:
                for field in _headers(stmt):
                    setattr(stmt, field, self.visit(getattr(stmt, field)))
                self.block(stmt.body)
                self.block(stmt.orelse)
            elif id(stmt) not in self.folded:
                folded = self.statement(stmt)
                if folded is not stmt and not self.makes_alias(stmt, folded):
                    stmt = stmts[k] = folded
                self.folded[id(stmt)] = stmt

    def statement(self, stmt):
        """self.visit(stmt), the short way for most of an adjoint's statements: a name assigned
        or updated with an atom or an operation of two atoms (`s_3 = t_2 * s_4`), where only
        that operation and an update's sign may fold."""
        kind = type(stmt)
        if kind is gast.Assign:
            named = len(stmt.targets) == 1 and type(stmt.targets[0]) is gast.Name
        elif kind is gast.AugAssign:
            named = type(stmt.target) is gast.Name
        else:
            return self.visit(stmt)
        value = stmt.value
        if named and type(value) is gast.BinOp and type(value.left) in _LEAVES and type(value.right) in _LEAVES:
            folded = self.visit_BinOp(value)
        elif named and type(value) in _LEAVES:
            folded = value
        else:
            return self.visit(stmt)
        if folded is not value:
            stmt = copy.copy(stmt)
            stmt.value = folded
        return self.visit_AugAssign(stmt) if kind is gast.AugAssign else stmt

    def makes_alias(self, stmt, folded) -> bool:
        """`y = x * 1.0` folded to `y = x` binds y to x's array: a write into either in place
        (`y[1:3] = ...`) would change both (and the caller's argument). Such copies stay."""
        if not (type(folded) is gast.Assign and type(folded.value) is gast.Name
                and type(stmt.value) is not gast.Name and type(folded.targets[0]) is gast.Name):
            return False
        if self.fn is None:
            return True
        if self.written is None:
            self.written, self.groups = _in_place_writes(self.fn), nodes.memory_groups(self.fn.body)
        # a write into any array either may share (`x = np.transpose(A)`, then `A[2] = ...`)
        names = {folded.targets[0].id, folded.value.id}
        names = names.union(*(self.groups.get(n, ()) for n in names))
        return not self.written.keys().isdisjoint(names)

    def visit(self, node):
        kind = type(node)
        if kind in _LEAVES:
            return node
        new = None
        for field in nodes.child_fields(kind):
            value = getattr(node, field, None)
            if type(value) is list:
                items = None                   # a copy of the list, once an item folds
                for k, item in enumerate(value):
                    if type(item) not in _LEAVES and isinstance(item, gast.AST):
                        folded = self.visit(item)
                        if folded is not item:
                            items = items or list(value)
                            items[k] = folded
                if items is not None:
                    new = new or copy.copy(node)
                    setattr(new, field, items)
            elif type(value) not in _LEAVES and isinstance(value, gast.AST):
                folded = self.visit(value)
                if folded is not value:
                    new = new or copy.copy(node)
                    setattr(new, field, folded)
        node = new or node
        fold = self.folds.get(kind)
        return fold(self, node) if fold else node

    def visit_BinOp(self, node):
        left, right, op = node.left, node.right, node.op
        if type(left) is not gast.Constant and type(right) is not gast.Constant:
            return node                                  # every fold below needs a number
        if _number(left) and _number(right) and isinstance(op, (gast.Add, gast.Sub, gast.Mult)):
            value = {gast.Add: left.value + right.value, gast.Sub: left.value - right.value,
                     gast.Mult: left.value * right.value}[type(op)]
            return self._done(nodes.const(value))
        if isinstance(op, gast.Mult) and _is(left, 1.0):
            return self._done(right)
        if isinstance(op, gast.Mult) and _is(right, 1.0):
            return self._done(left)
        if isinstance(op, gast.Div) and _is(right, 1.0):
            return self._done(left)
        if isinstance(op, gast.Pow) and _is(right, 1.0):
            return self._done(left)
        if isinstance(op, (gast.Add, gast.Sub)) and _is(right, 0.0) and not _number(left):
            return self._done(left)
        return node

    def visit_UnaryOp(self, node):
        if isinstance(node.op, gast.USub) and _number(node.operand):
            return self._done(nodes.const(-node.operand.value))
        if isinstance(node.op, gast.USub) and isinstance(node.operand, gast.UnaryOp) \
                and isinstance(node.operand.op, gast.USub):
            return self._done(node.operand.operand)
        return node

    def visit_AugAssign(self, node):
        if not isinstance(node.op, (gast.Add, gast.Sub)):
            return node
        if isinstance(node.value, gast.UnaryOp) and isinstance(node.value.op, gast.USub):
            value = node.value.operand
        elif type(node.value) is gast.BinOp and type(node.value.op) is gast.Mult and _is(node.value.left, -1.0):
            value = node.value.right       # s += -1.0 * e -> s -= e (the same numbers: an update keeps s's dtype)
        elif _number(node.value) and node.value.value < 0:
            value = nodes.const(-node.value.value)
        else:
            return node
        new = copy.copy(node)
        new.op = nodes.make(gast.Sub if isinstance(node.op, gast.Add) else gast.Add)
        new.value = value
        return self._done(new)

    def _done(self, node):
        self.changed = True
        return node

    folds = {gast.BinOp: visit_BinOp, gast.UnaryOp: visit_UnaryOp, gast.AugAssign: visit_AugAssign}


def fold_constants(fn, summaries=None) -> bool:
    folder = _Fold((summaries or _Summaries()).folded, fn)
    folder.block(fn.body)
    return folder.changed


def propagate_seed(fn, sensitivities, summaries=None, replaced=None) -> bool:
    """A sensitivity set once, at the top level, to a constant and never updated: inline it.
    The statements that read one (after the change) are appended to the list `replaced`."""
    summaries = summaries or _Summaries()
    seeds = _seed_candidates(fn, sensitivities)
    if not seeds:
        return False
    writes = _write_counts(fn, summaries)
    constant = {name: stmt for name, stmt in seeds.items() if writes[name] == 1}
    if not constant:
        return False
    values = {name: nodes.const(stmt.value.value) for name, stmt in constant.items()}
    inlined = {id(c) for c in constant.values()}
    body = [s for s in fn.body if id(s) not in inlined]
    loads, names = summaries.load_counts, values.keys()
    readers = [k for k, s in enumerate(body) if not names.isdisjoint(loads(s))]    # (a few)
    if replaced is not None:           # (compound statements change in place)
        replaced += [body[k] for k in readers if isinstance(body[k], _COMPOUND)]
    rebuilt = []
    for k in readers:
        old, body[k] = body[k], _with_reads_replaced(body[k], values, summaries)
        if body[k] is not old:
            rebuilt.append(body[k])
    fn.body = body
    if replaced is not None:
        replaced += rebuilt
    return True


def _seed_candidates(fn, sensitivities) -> dict:
    """name -> its statement, for the sensitivities set to a number at the top level."""
    return {stmt.targets[0].id: stmt for stmt in fn.body
            if type(stmt) is gast.Assign and type(stmt.value) is gast.Constant
            and type(stmt.targets[0]) is gast.Name and stmt.targets[0].id in sensitivities
            and _number(stmt.value)}


# s = 0.0; s += e  ->  s = e -------------------------------------------------------------------

def first_accumulation(fn, temporaries, in_loops, returned=frozenset(), summaries=None,
                       rewritten=None, zero_arrays=None) -> bool:
    """Rewrite `s += e` into `s = e` where s is known to be 0.0.

    Applies to sensitivities of temporaries everywhere, and to every sensitivity (`in_loops`)
    inside loops, where the extra `0.0 + e` would cost time on each iteration; straight-line
    user-named sensitivities keep the seed's `+=` form. The values assigned instead (e, -e)
    are appended to the list `rewritten`, if given; `zero_arrays`: whether `fn` assigns a
    zero array (None: found here)."""
    rewriter = _ZeroState(temporaries, in_loops, summaries or _Summaries())
    rewriter.returned = set(returned)
    rewriter.rewritten = [] if rewritten is None else rewritten
    if _has_zero_arrays(fn) if zero_arrays is None else zero_arrays:
        rewriter.mutations = _in_place_writes(fn, rewriter.summaries)    # read only for zero arrays' sums
        if any(annotations.get(s, "broadcast_view") for s in _all_statements(fn.body)):
            rewriter.elementwise = _read_only_elementwise(fn, rewriter.summaries)   # (viewed_alone's)
    rewriter.block(fn.body, frozenset(), rewrite=True)
    return rewriter.changed


def _has_zero_arrays(fn) -> bool:
    """Whether some statement assigns a zero array (np.zeros, np.zeros_like)."""
    return any(type(s) is gast.Assign and type(s.value) is gast.Call and _zero_array(s.value)
               for s in _all_statements(fn.body))


class _ZeroState:
    def __init__(self, temporaries, in_loops, summaries):
        self.temporaries = temporaries
        self.in_loops = in_loops
        self.names = temporaries | in_loops
        self.summaries = summaries
        self.written = summaries.written
        self.depth = 0
        self.changed = False
        self.rewritten = []                  # the values assigned instead of added (`s = e`)
        self.arrays = set()                  # sensitivities that start as zero arrays
        self.returned = set()                # gradients returned to the caller keep their dtype
        self.mutations = {}                  # name -> in-place writes (_in_place_writes)
        self.elementwise = set()             # names only read elementwise (_read_only_elementwise)
        self.solved_loops = {}               # (id(loop), zero before it) -> (loop, zero after it)
        self.heads = {}                      # id(loop) -> [(zero before it, zero at its head)]
        self.nonzero = {}                    # id(loop) -> (loop, _assigned_nonzero(loop))

    def rewritable(self, name):
        return name in self.temporaries or (self.depth > 0 and name in self.in_loops)

    def block(self, stmts, zero, rewrite):
        """The names zero after `stmts`, from those zero before them; one set, updated in
        place statement by statement (a new set per statement was quadratic in straight code,
        where thousands of sensitivities start at zero)."""
        zero = set(zero)
        for i, stmt in enumerate(stmts):
            self.statement(stmts, i, stmt, zero, rewrite)
        return zero

    def statement(self, stmts, i, stmt, zero, rewrite):
        """Update `zero` across `stmt` (stmts[i]), rewriting it where `rewrite`."""
        kind = type(stmt)
        if kind is gast.Assign:
            zero.difference_update(self.written(stmt))
            target, value = stmt.targets[0], stmt.value
            if type(target) is not gast.Name:
                return
            if type(value) is gast.Constant and target.id in self.names and _is(value, 0.0):
                zero.add(target.id)
            elif type(value) is gast.Call and _zero_array(value) and target.id not in self.returned:
                zero.add(target.id)
                self.arrays.add(target.id)
        elif kind is gast.AugAssign:
            target = stmt.target
            # only `s += e` with s zero may change: the rest (most of them) just writes
            if rewrite and type(target) is gast.Name and target.id in zero \
                    and type(stmt.op) in (gast.Add, gast.Sub) and self.allowed(target.id, stmt):
                value = stmt.value if type(stmt.op) is gast.Add else nodes.neg(stmt.value)
                stmts[i] = annotations.copy_to(nodes.assign_to(target, value, stmt), stmt)
                self.summaries.same_loads(stmts[i], stmt)        # (s += e and s = e load alike)
                self.rewritten.append(value)
                self.changed = True
            zero.difference_update(self.written(stmt))
        elif kind is gast.If:
            after = self.block(stmt.body, zero, rewrite) & self.block(stmt.orelse, zero, rewrite)
            zero.clear()
            zero.update(after)
        elif kind is gast.For or kind is gast.While:
            self.depth += 1
            try:
                after = self.loop(stmt, frozenset(zero), rewrite)
            finally:
                self.depth -= 1
            zero.clear()
            zero.update(after)

    def allowed(self, name, stmt):
        """Whether `name += e` (`stmt`), with `name` zero, may become `name = e`."""
        if name in self.arrays:
            # same shape: assigning is safe (a summed-back sensitivity may be its argument
            # itself, so neither may change in place afterwards)
            if not (annotations.get(stmt, "full_shape")
                    or self.summed_back_alone(name, stmt.value, isinstance(stmt.op, gast.Sub))
                    or self.unchanged_alias(name, annotations.get(stmt, "alias_of"))
                    or self.viewed_alone(name, stmt)):
                return False
            # a value that may be another name's array (`s += x * 1.0` folded to `s += x`,
            # `s += g[1:3]`): `s = x` would make s that array, and the next `s += e` would
            # add into x too; only where neither changes in place afterwards
            base = None if isinstance(stmt.op, gast.Sub) else nodes.array_named(stmt.value)   # (-x: new)
            return base is None or self.unchanged_alias(name, base)
        return self.rewritable(name)

    def summed_back_alone(self, name, value, negated=False):
        if not (isinstance(value, gast.Call) and nodes.dotted(value.func).startswith("_sum_to_")):
            return False
        source = value.args[0]
        # `s = -_sum_to(g)` is a new array even where _sum_to returns g itself
        return negated or not isinstance(source, gast.Name) or self.unchanged_alias(name, source.id)

    def viewed_alone(self, name, stmt):
        """`s += np.broadcast_to(e, shape)` may become the read-only view itself where nothing
        else writes s and every read of s is elementwise (numba then fuses the view into it)."""
        return annotations.get(stmt, "broadcast_view") and self.mutations.get(name, 0) == 1 \
            and name in self.elementwise and name not in self.returned

    def unchanged_alias(self, name, source):
        """`name = source` shares the array: safe when neither changes in place afterwards."""
        return source is not None and self.mutations.get(name, 0) == 1 and self.mutations.get(source, 0) == 0

    def loop(self, stmt, zero, rewrite):
        """What is zero after the loop; its head is the greatest set below `zero` that is zero
        again at the end of the body. As in dead-code elimination, each loop remembers what
        it has solved, or nested loops would cost a power of the depth: the same `zero` is
        answered from memory, and a smaller one starts below the heads of larger ones already
        solved (the analysis is monotone: the iteration still ends on the same set)."""
        key = (id(stmt), zero)
        if not rewrite and key in self.solved_loops:
            return self.solved_loops[key][1]
        head = zero
        for larger_zero, its_head in self.heads.get(id(stmt), ()):
            if zero <= larger_zero:
                head = head & its_head
        while True:                                      # zero at the head on every iteration
            end = self.block(stmt.body, head, rewrite=False)
            new_head = head & end
            if new_head == head:
                break
            head = new_head
        self.heads.setdefault(id(stmt), []).append((zero, head))
        if rewrite:
            self.block(stmt.body, head, rewrite)
        if rewrite or id(stmt) not in self.nonzero:          # the rewritten loop is read afresh
            self.nonzero[id(stmt)] = (stmt, _assigned_nonzero(stmt))
        after = head - self.nonzero[id(stmt)][1]
        self.solved_loops[key] = (stmt, after)
        return after


def _in_place_writes(fn, summaries=None) -> dict:
    """name -> how many statements change its array in place (`a += e`, `a[i] = e`, calls)."""
    summaries = summaries or _Summaries()
    counts: dict = {}
    for part in _statement_parts(fn.body):
        for name, count in summaries.fact("in_place", part, _in_place_counts).items():
            counts[name] = counts.get(name, 0) + count
    return counts


def _statement_parts(stmts):
    """The simple statements under `stmts` and the headers of the compound ones: together,
    every node a walk of the function's body meets, each part one that no pass changes in
    place (so its facts can be kept: _Summaries.fact)."""
    for stmt in _all_statements(stmts):
        if type(stmt) in _COMPOUND_TYPES:
            yield from [getattr(stmt, field) for field in _headers(stmt)]
        else:
            yield stmt


def _in_place_counts(part) -> dict:
    if _of_atoms(part):                  # `s = t * u`, `s += t` (most statements): no walk
        return {part.target.id: 1} if type(part) is gast.AugAssign else {}
    counts: dict = {}
    for node in nodes.every_node(part):
        names = []
        if isinstance(node, gast.AugAssign):
            target = node.target
            names = [target.id if isinstance(target, gast.Name) else nodes.dotted(target.value)]
        elif isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript):
            names = [nodes.dotted(node.targets[0].value)]
        elif isinstance(node, gast.Call) and nodes.dotted(node.func).startswith(("_record_", "_undo_")):
            names = [a.id for a in node.args if isinstance(a, gast.Name)]      # they write arrays
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _read_only_elementwise(fn, summaries=None) -> set:
    """Names every read of which is an operand of elementwise arithmetic or of a sum: what a
    read-only, non-contiguous view can be (a matrix product or a call could need more)."""
    summaries = summaries or _Summaries()
    reads: dict = {}
    elementwise: dict = {}
    for part in _statement_parts(fn.body):
        part_reads, part_elementwise = summaries.fact("elementwise", part, _elementwise_counts)
        for name, count in part_reads.items():
            reads[name] = reads.get(name, 0) + count
        for name, count in part_elementwise.items():
            elementwise[name] = elementwise.get(name, 0) + count
    return {name for name, count in elementwise.items() if count == reads[name]}


def _elementwise_counts(part) -> tuple:
    """(name -> loads, name -> loads as an operand of elementwise arithmetic or a sum) in `part`."""
    reads: dict = {}
    elementwise: dict = {}
    if _of_atoms(part):                  # `s = t * u`, `s += t` (most statements): no walk
        value = part.value
        kind = type(value)
        operands = (value.left, value.right) if kind is gast.BinOp and type(value.op) is not gast.MatMult \
            else (value.operand,) if kind is gast.UnaryOp else ()
        for operand in operands:
            if type(operand) is gast.Name:
                elementwise[operand.id] = elementwise.get(operand.id, 0) + 1
        return _atom_loads(value), elementwise
    for node in nodes.every_node(part):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            reads[node.id] = reads.get(node.id, 0) + 1
        operands = []
        if isinstance(node, gast.BinOp) and not isinstance(node.op, gast.MatMult):
            operands = [node.left, node.right]
        elif isinstance(node, gast.UnaryOp):
            operands = [node.operand]
        elif isinstance(node, gast.Call) and node.args and (
                nodes.dotted(node.func).startswith("_sum_to_") or nodes.dotted(node.func) == "np.sum"):
            operands = [node.args[0]]
        for operand in operands:
            if isinstance(operand, gast.Name):
                elementwise[operand.id] = elementwise.get(operand.id, 0) + 1
    return reads, elementwise


def _of_atoms(stmt) -> bool:
    """`name = e` or `name += e`, e a name, a number or one operation of them (none annotated)."""
    target = _name_target(stmt)
    return target is not None and target.annotation is None and _atom_loads(stmt.value) is not None


def _zero_array(value) -> bool:
    return isinstance(value, gast.Call) and nodes.dotted(value.func) in ("np.zeros", "np.zeros_like") \
        and not value.keywords


def _assigned_nonzero(loop) -> set:
    """Names some statement in the loop sets to anything but 0.0."""
    names = set()
    for node in nodes.statements([loop]):          # (only statements write names)
        if not (isinstance(node, gast.Assign) and (_is(node.value, 0.0) or _zero_array(node.value))):
            names.update(nodes.written_names(node))
    return names


# copies -------------------------------------------------------------------------------------

def forward_copies(fn, names, summaries=None, forwarded_sources=None) -> bool:
    """`s_2 = s_5` then reads of s_2: read s_5 instead, when s_2 (one of `names`) is assigned
    only there and every read follows in the same block before s_5 changes. The sources of
    the copies forwarded (s_5) are appended to the list `forwarded_sources`, if given."""
    summaries = summaries or _Summaries()
    copies = [stmt for stmt in _all_statements(fn.body)      # (the value's type first: most are not)
              if type(stmt) is gast.Assign and type(stmt.value) in _LEAVES and _copy_of(stmt, names)]
    if not copies:
        return False
    writes = _write_counts(fn, summaries)
    copied = {stmt.targets[0].id for stmt in copies if writes[stmt.targets[0].id] == 1}
    sources = {stmt.value.id for stmt in copies if isinstance(stmt.value, gast.Name)}
    top = _BlockIndex(fn.body, summaries, copied, sources)      # the body's reads, statement by statement
    reads = dict.fromkeys(copied, 0)       # how many times each copy is read, anywhere
    for name, positions in top.readers_of.items():
        reads[name] = sum(top.loads[k][name] for k in positions)
    for field in fn._fields:               # arguments' defaults, decorators
        value = getattr(fn, field, None)
        for part in (value if isinstance(value, list) else [value]) if field != "body" else ():
            if isinstance(part, gast.AST):
                for name, count in nodes.load_counts(part).items():
                    if name in reads:
                        reads[name] += count
    changed = False
    forwarded = nodes.pass_()                # marks the copies forwarded, removed at the end
    candidates = {id(stmt) for stmt in copies if stmt.targets[0].id in copied}
    for block in _blocks(fn):
        index = top if block is fn.body else None        # else built on a first candidate copy
        # forwarding keeps a statement a copy or not (a name read becomes a name or a number),
        # so the copies' positions are found once; the body's by identity (it comes first:
        # nothing is rebuilt yet), an inner block's by looking (a reader holding it rebuilt it)
        positions = [k for k, stmt in enumerate(block) if id(stmt) in candidates] if block is fn.body \
            else [k for k, stmt in enumerate(block) if _copy_of(stmt, copied)]
        for i in positions:
            stmt = block[i]
            copy_name = stmt.targets[0].id
            source = stmt.value.id if isinstance(stmt.value, gast.Name) else None
            index = index or _BlockIndex(block, summaries, copied, sources)
            wanted = reads[copy_name]
            overwritten = index.next_write(source, i)      # the first later statement writing source
            found = 0
            for k in index.readers(copy_name, i):
                if k > overwritten or (k == overwritten and not _reads_before_write(block[k])):
                    break
                found += index.loads[k][copy_name]
                if k == overwritten or found == wanted:
                    break
            if found == 0 or found != wanted:
                continue
            for k in index.readers(copy_name, i):
                block[k] = _with_reads_replaced(block[k], {copy_name: stmt.value}, summaries)
            index.forwarded(i, copy_name, source)
            if forwarded_sources is not None:
                forwarded_sources.append(stmt.value)
            block[i] = forwarded
            changed = True
        if forwarded in block:          # dropped now, or the next round's dead-code pass would
            block[:] = [s for s in block if s is not forwarded] or [nodes.pass_()]
    return changed


def _copy_of(stmt, names) -> bool:
    """`name = other` or `name = 2.0`, for a name of `names`."""
    return type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name \
        and stmt.targets[0].id in names and (type(stmt.value) is gast.Name or _number(stmt.value))


class _BlockIndex:
    """Where the copies (`copied`) are loaded and their sources written among a block's
    statements (each statement with everything nested in it), kept up to date as copies are
    forwarded, so that forwarding a copy looks only at the statements that read it instead
    of rescanning the block. (A forwarded copy's readers read a source instead, and a source
    is never another name: the sources stay those the copies had at the start.)"""

    def __init__(self, block, summaries, copied, sources):
        self.copied, self.sources = copied, sources
        self.loads = [summaries.load_counts(stmt) for stmt in block]     # name -> loads; shared
        self.readers_of: dict = {}         # copy -> sorted statement positions that load it
        self.writers_of: dict = {}         # source -> sorted statement positions that write it
        for k, stmt in enumerate(block):
            loads, written = self.loads[k], summaries.written_by(stmt)
            if not copied.isdisjoint(loads):             # (most statements: no set made)
                for name in copied.intersection(loads):
                    self.readers_of.setdefault(name, []).append(k)
            if not sources.isdisjoint(written):
                for name in sources.intersection(written):
                    self.writers_of.setdefault(name, []).append(k)

    def readers(self, name, after):
        positions = self.readers_of.get(name, [])
        return positions[bisect.bisect_right(positions, after):]

    def next_write(self, name, after):
        positions = self.writers_of.get(name, [])
        k = bisect.bisect_right(positions, after)
        return positions[k] if k < len(positions) else math.inf

    def forwarded(self, i, copy_name, source):
        """Statement i, `copy_name = source`, is gone and its reads now read `source`."""
        for k in self.readers(copy_name, i):
            loads = dict(self.loads[k])
            count = loads.pop(copy_name)
            if source is not None:
                if source not in loads and source in self.copied:
                    bisect.insort(self.readers_of.setdefault(source, []), k)
                loads[source] = loads.get(source, 0) + count
            self.loads[k] = loads
        positions = self.readers_of.get(copy_name, [])
        del positions[bisect.bisect_right(positions, i):]
        for name in self.copied.intersection(self.loads[i]):
            self.readers_of[name].remove(i)
        self.loads[i] = {}
        if copy_name in self.sources:
            self.writers_of[copy_name].remove(i)
