"""Speelpenning's transformation of normalized code into its adjoint.

    def f4(side_lengths):                 def grad_f4(side_lengths):
        t_a, t_b, t_c, t_d = side_lengths     ...forward sweep: the primal statements...
        t_ab = t_a * t_b            ->        s_ab = 0.0 ...
        ...                                   # Analyzing the line: "t_ab = t_a * t_b"
                                              s_a += t_b * s_ab
                                              s_b += t_a * s_ab
                                              return s_side_lengths

The forward sweep runs the primal and keeps what the reverse sweep reads; the reverse sweep
walks the statements backwards, one block of `s_* += partial * s_target` per primal line, the
partials taken from the rule table. Values the forward sweep overwrites are saved just before
(`x_old = x`) and restored just after their statement's block (`x = x_old`).

Loops are reversed by *checkpointing every iteration*: the forward loop records on a tape only
the loop-carried variables at the start of each iteration; the reverse loop runs the
iterations backwards, and each one restores its checkpoint, replays its iteration forward
(recomputing the intermediates) and then runs that iteration's reverse blocks. The optimizer
later drops every checkpoint and replayed statement nothing reads, so a loop whose
intermediates depend only on unchanged inputs (extended Rosenbrock) needs no tape at all.
Arrays whose replay would cost a matrix product or a transcendental function are stored by
the forward loop instead (stored.stored_intermediates).
"""

from __future__ import annotations

import collections
import contextlib
import copy

import gast

from ..analysis import shapes
from ..analysis.activity import derivative, exposed_reads, linear_terms, operands
from ..errors import AdjointError, AdjointTypeError, locate
from ..ir import annotations, nodes, trees
from ..ir.grammar import is_accumulation, is_linear_chain, primitive_of
from ..primitives import rules, runtime
from .checkpoints import budget_of, checkpointed
from .line_comments import LineHead, group_comments, line_text, marked, regrouped
from .reverse_facts import Assigned, Exposed, branch_arrays, loop_locals, unpacked_only, views_written_later
from .stored import COSTLY_CALLS, stored_intermediates
from .tapes import LoopFrame, single_definitions, statements

ZERO = {"float": 0.0, "int": 0, "bool": False}
# numpy functions of one array whose result has its shape (reverse.shape_key)
ELEMENTWISE = {f"np.{f}" for f in ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh",
                                   "sqrt", "abs", "negative", "log1p", "expm1", "square", "arctan")}


def reverse(tree: gast.FunctionDef, analysis, namer, *, filename="<adjoint>",
            return_value=False, cotangent=False, store=True, checkpoints=None,
            memory_limit=None, device=False) -> gast.FunctionDef:
    """The adjoint FunctionDef `grad_<name>`: same arguments, returns the gradient(s).
    With `cotangent`, `vjp_<name>` takes the result's sensitivity as an extra last argument
    (a vector-valued function's vector-Jacobian product). `store`: loops keep their costly
    array intermediates on tapes (False replays them all). `checkpoints`: the outermost `for`
    loops keep at most that many snapshots of their state (checkpoints.checkpointed); "auto": as
    many as `memory_limit` bytes hold. `device`: the code is lowered for device threads, which
    cannot allocate: snapshots of arrays are copied element by element (lower/device.py makes
    the snapshot slots workspace rows)."""
    reversal = _Reverse(tree, analysis, namer, filename, store)
    reversal.device = device
    reversal.checkpoints = budget_of(checkpoints, memory_limit) if checkpoints is not None else None
    return reversal.function(return_value, cotangent)


class _Reverse:
    checkpoints = None                       # snapshots an outermost loop keeps (None: one per iteration)
    _rank = None                             # name -> its place in the order of sensitivities (_order)
    device = False                           # lowered for device threads (snapshots copied by element)

    def __init__(self, tree, analysis, namer, filename, store=True):
        self.tree = tree
        self.store = store                   # keep costly array intermediates (stored.py)
        self.a = analysis
        self.namer = namer
        self.filename = filename
        self.helpers = set()                 # runtime helpers the code calls (runtime.py)
        self.saved = set()                   # names whose old values are copied before overwrites
        self.assigned = Assigned()
        self.exposed = Exposed()
        self.loop_locals = loop_locals(tree, self.assigned, self.exposed) \
            | branch_arrays(tree, analysis, self.assigned)
        self.gathered = unpacked_only(tree, analysis)
        self.view_copies = views_written_later(tree, analysis)   # ids of `t = y[1:3]` to copy
        self.copied = set()                  # the copies made of them (primal lines still)
        self.rules_known = {}                # which rule applies to a primitive (activity.derivative)
        self.sens = namer.sensitivity        # (the method below, without a call of its own)
        self.single_use = set()              # sensitivities one top-level line contributes to (function)
        self.assigned_first = set()          # those its contribution has assigned

    # the whole function ---------------------------------------------------------------------

    def function(self, return_value, cotangent=False):
        body, final = self.tree.body[:-1], self.tree.body[-1]
        args = [a.id for a in self.tree.args.args]
        self.single_use = self.single_use_sensitivities(body, final)
        forward, backward = self.sweep(body, defined=set(args))
        forward = self.placeholders(body, args) + forward
        originals = {id(stmt) for stmt in body} | self.copied
        for stmt in forward:                     # the primal lines stay, for readability
            annotations.set(stmt, "primal", id(stmt) in originals and isinstance(stmt, gast.Assign))
        header = nodes.comment("Reverse sweep: s_v is the sensitivity of the result to v.", final)
        annotations.set(header, "keep", True)
        inits = [header]
        result = self.a.result
        if not cotangent and shapes.type_of(result, self.a.types).is_array:
            raise AdjointTypeError(f"{self.tree.name} returns an array: grad needs a scalar result",
                                   location=locate(final, self.filename),
                                   hint="use adjoint.jacobian(f) for the whole Jacobian, or "
                                        "adjoint.vjp(f) for a vector-Jacobian product")
        seeded = isinstance(result, gast.Name) and result.id in self.a.active
        for var in sorted(self.a.active | set(self.a.wrt), key=self._order):
            if seeded and var == result.id:
                continue
            if self.sens(var) in self.assigned_first:
                continue                          # its one contribution assigns it
            if var in self.a.arrays and var in self.loop_locals:
                continue                          # zeroed where the loop replay defines it
            if var in self.gathered:
                continue                          # built whole from its elements' sensitivities
            inits.append(nodes.assign(self.sens(var), self.zero_sensitivity(var), final))
        seed, extra = [], []
        if seeded:
            start = nodes.const(1.0)
            if cotangent:                          # the caller's output sensitivity, copied
                extra = [self.namer.fresh("cotangent")]
                start = nodes.name(extra[0])
                if result.id in self.a.arrays:
                    start = nodes.call(nodes.attribute_of(start, "copy"), [])
            seed = [marked(nodes.comment(f'Analyzing the line: "{line_text(final)}"', final)),
                    nodes.assign(self.sens(result.id), start, final)]
        elif cotangent:
            extra = [self.namer.fresh("cotangent")]
        backward = regrouped(seed, backward)
        grads = [nodes.name(self.sens(w)) for w in self.a.wrt]
        value = grads[0] if len(grads) == 1 else nodes.tuple_(grads)
        if return_value:
            kept = result
            if isinstance(result, gast.Name):         # the reverse sweep may restore older values
                kept = nodes.name(self.namer.fresh("value"))
                forward.append(nodes.assign(kept.id, result, final))
            value = nodes.tuple_([nodes.clone(kept), value])
        out = forward + inits + backward + [nodes.return_(value, final)]
        fn = nodes.function(("vjp_" if cotangent else "grad_") + self.tree.name, args + extra, out, self.tree)
        annotations.set(fn, "runtime_helpers", sorted(self.helpers))
        return fn

    def single_use_sensitivities(self, body, final) -> set:
        """The sensitivities of the number temporaries that one top-level statement reads and
        none in a block or the return: they get one contribution, at the top level of the
        reverse sweep, before their own line's adjoint reads them."""
        readers, nested = {}, nodes.loads_in(final)
        for stmt in body:
            if type(stmt) in _COMPOUND:
                nested |= nodes.loads_in(stmt)
            else:
                for name in _names_read(stmt):
                    readers[name] = readers.get(name, 0) + 1
        once, active, temporaries, types = self.a.assigned_once, self.a.active, self.namer.temporaries, self.a.types
        defined = {stmt.targets[0].id for stmt in body
                   if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name}
        return {self.sens(v) for v, count in readers.items()
                if count == 1 and v in temporaries and v in once and v in active and v in defined
                and v not in nested and v not in self.gathered and types.get(v, shapes.FLOAT).ndim == 0}

    def placeholders(self, body, args):
        """A typed zero for each saved scalar that only a branch or a loop assigns: a copy of
        it may run where the branch was not taken (the value is never used then)."""
        nested = {n for stmt in body if isinstance(stmt, (gast.If, gast.For, gast.While))
                  for n in self.assigned(stmt.body + getattr(stmt, "orelse", []))}
        names = sorted((self.saved & nested) - set(args) - self.a.arrays, key=self._order)
        return [nodes.assign(n, ZERO.get(self.a.kinds.get(n, "float"), 0.0), body[0] if body else None)
                for n in names]

    def _order(self, var):
        """Sensitivities are declared arguments first, then in order of assignment (the seed's order)."""
        rank = self._rank
        if rank is None:
            order = [a.id for a in self.tree.args.args]
            for node in statements(self.tree.body):
                if type(node) is gast.Assign:
                    target = node.targets[0]
                    if type(target) is gast.Name and type(target.ctx) is gast.Store:
                        order.append(target.id)         # (the commonest target, directly)
                    else:
                        order += _stored_in_order(target)
            rank = self._rank = {name: k for k, name in enumerate(dict.fromkeys(order))}
        return rank.get(var, len(rank)), var

    def sens(self, var):
        return self.namer.sensitivity(var)

    def one_shape(self, operands, out) -> bool:
        """Whether the array operands provably have one shape, the result's (x and np.exp(x)),
        so that no contribution needs summing back."""
        keys = {self.shape_key(o.id) if isinstance(o, gast.Name) else None for o in operands}
        return len(keys) == 1 and None not in keys \
            and all(self.type(o).ndim == out.ndim for o in operands)

    def shape_key(self, name):
        """A name bound once (or an argument never rebound) whose array has `name`'s shape,
        following elementwise functions, negation, arithmetic with numbers and copies; None
        where no such name is known. Found once per name: `v = np.tanh(v_1) + v_1` asks it of
        both sides, so a chain of such lines asked it a power of the chain's length (20
        lines: hours); a name met again while its own key is being found gets None."""
        definitions = self.single_definitions()
        if not hasattr(self, "_stable"):
            written = self.assigned(self.tree.body)
            self._stable = set(definitions) | {a.id for a in self.tree.args.args} - written
            self._shape_keys = {}
        asked = name
        if asked in self._shape_keys:
            return self._shape_keys[asked]
        self._shape_keys[asked] = None                # (in progress: a cycle finds no key)
        seen = set()
        while name in definitions and name not in seen:
            seen.add(name)
            source = self._shape_source(definitions[name])
            if source is None:
                break
            name = source
        key = self._shape_keys[asked] = name if name in self._stable else None
        return key

    def _shape_source(self, value):
        """The array name whose shape `value` has, for shape-preserving expressions of one."""
        if isinstance(value, gast.Name):
            return value.id
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.USub, gast.UAdd)) \
                and isinstance(value.operand, gast.Name):
            return value.operand.id
        if isinstance(value, gast.Call) and nodes.dotted(value.func) in ELEMENTWISE \
                and len(value.args) == 1 and not value.keywords and isinstance(value.args[0], gast.Name):
            return value.args[0].id
        if isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
            sides = [value.left, value.right]
            if not all(isinstance(side, (gast.Name, gast.Constant)) for side in sides):
                return None
            arrays = [side for side in sides if self.type(side).is_array]
            if len(arrays) == 1:
                return arrays[0].id if all(self.type(side).ndim == 0 for side in sides
                                           if side is not arrays[0]) else None
            if len(arrays) == 2 and self.shape_key(arrays[0].id) is not None \
                    and self.shape_key(arrays[0].id) == self.shape_key(arrays[1].id):
                return arrays[0].id
        return None

    def single_definitions(self) -> dict:
        """tapes.single_definitions of the function, its arguments left out (found once)."""
        if not hasattr(self, "_definitions"):
            found = single_definitions(self.tree)
            for a in self.tree.args.args:
                found.pop(a.id, None)
            self._definitions = found
        return self._definitions

    def zero_sensitivity(self, var):
        if var in self.a.arrays:        # np.zeros(shape, dtype): numba allocates it faster than zeros_like
            return nodes.call("np.zeros", [nodes.attribute(f"{var}.shape"), nodes.attribute(f"{var}.dtype")])
        return nodes.const(0.0)

    def type(self, atom) -> shapes.Type:
        if type(atom) is gast.Name:              # (most operands: shapes.type_of's first case)
            return self.a.types.get(atom.id, shapes.FLOAT)
        return shapes.type_of(atom, self.a.types)

    def helper(self, name):
        self.helpers.add(name)
        return name

    # a block of statements ------------------------------------------------------------------

    def sweep(self, stmts, defined, depth=0):
        """(forward, reverse) code for `stmts`: the forward part runs them and saves what the
        reverse part needs; the reverse part is their adjoint, last statement first.
        `depth` counts the loops being replayed around them."""
        forward, backward_blocks = [], []
        defined = set(defined)
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                f, b = self.assignment(stmt, defined, depth)
            elif isinstance(stmt, gast.If):
                f, b = self.branch(stmt, defined, depth)
            elif isinstance(stmt, (gast.For, gast.While)):
                f, b = self.loop(stmt, defined, depth)
            elif isinstance(stmt, gast.Pass):
                f, b = [], []
            elif isinstance(stmt, gast.Raise):           # a guard: the forward sweep checks it
                f, b = [stmt], []
            else:
                raise AdjointError(f"unexpected {type(stmt).__name__} in normalized code",
                                   location=locate(stmt, self.filename), stage="reverse")
            forward += f
            backward_blocks.append(b)
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
                defined.add(stmt.targets[0].id)      # (what assigned.of says, without a set)
            else:
                defined |= self.assigned.of(stmt)
        backward = [s for b in reversed(backward_blocks) for s in b]      # last statement first
        return forward, group_comments(backward)

    def save(self, names, defined, origin):
        """Copies of the values about to be overwritten that the reverse sweep reads."""
        needed = [n for n in names if n in self.a.reverse_reads and n in defined]
        if not needed:                    # most statements: nothing to save
            return [], []
        needed.sort()
        self.saved.update(needed)
        copies = {n: self.namer.fresh(n + "_old") for n in needed}
        saves = [nodes.assign(c, n, origin) for n, c in copies.items()]
        restores = [nodes.assign(n, c, origin) for n, c in copies.items()]
        return saves, restores

    # assignments ----------------------------------------------------------------------------

    def assignment(self, stmt, defined, depth):
        target = stmt.targets[0]
        target_kind = type(target)
        if target_kind is gast.Subscript:
            return self.element_write(stmt)
        targets = [e.id for e in target.elts] if target_kind is gast.Tuple else [target.id]
        saves, restores = self.save(targets, defined, stmt)
        accumulates = target_kind is gast.Name and is_accumulation(target.id, stmt.value)
        adjoint = self.adjoint(stmt, accumulates)
        active = self.a.active
        resets = [] if accumulates else [   # s = s + t leaves s_s as it is
            nodes.assign(self.sens(t), self.zero_sensitivity(t), stmt) for t in targets
            if t in active and t not in self.a.assigned_once]
        if accumulates and depth == 0:
            resets = self.summed_back(target, stmt)
        backward = adjoint + restores + resets
        if backward:
            backward = [LineHead(stmt)] + backward
        zeroed = [nodes.assign(self.sens(t), self.zero_sensitivity(t), stmt) for t in targets
                  if t in active and t in self.a.arrays and t in self.loop_locals] if self.loop_locals else []
        if id(stmt) in self.view_copies:
            # a view the reverse sweep reads, of an array written in place later: the write
            # would change what it reads, so it keeps the values of this line (a copy)
            copied = nodes.call(nodes.attribute_of(stmt.value, "copy"), [])
            stmt = nodes.assign_to(nodes.clone(target), copied, stmt)
            self.copied.add(id(stmt))
        return saves + [stmt] + zeroed, backward

    def summed_back(self, target, stmt):
        """`S = S + x` may broadcast S to a larger shape ((1, 4) + (3, 4)): the sensitivity it
        keeps is then summed back to the restored S's shape (a no-op where it kept its shape),
        unless every array term provably has S's shape."""
        out = self.type(target)
        if target.id not in self.a.active or not out.is_array:
            return []
        arrays = [atom for _, atom in linear_terms(stmt.value) if self.type(atom).is_array]
        if all(isinstance(a, gast.Name) and a.id == target.id for a in arrays) or self.one_shape(arrays, out):
            return []
        name = self.helper(runtime.sum_to(out.ndim, out.ndim))
        back = nodes.call(nodes.name(name), [nodes.name(self.sens(target.id)),
                                             nodes.attribute(f"{target.id}.shape")])
        return [nodes.assign(self.sens(target.id), back, stmt)]

    def element_write(self, stmt):
        """y[i] = a: the element's old value is kept, and restored after its block. A region
        (a row, a slice, a mask: y[i] of a matrix, y[1:-1]) is kept as a copy."""
        target, value = stmt.targets[0], stmt.value
        array = target.value.id
        components = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
        if isinstance(value, gast.Name) and value.id in self.a.active \
                and any(self.index_letter(c) == "a" for c in components):
            # a repeated index keeps only its last value: every other occurrence's value has
            # no effect, which `s_v += s_y[index]` would not know
            raise AdjointError("differentiating a write through an integer index array is not supported",
                               location=locate(stmt, self.filename), stage="reverse",
                               hint="write the elements in a loop (for k in range(len(rows)): "
                                    "y[rows[k]] = v[k]), or index with a boolean mask")
        region = nodes.subscript(array, nodes.clone(target.slice))
        old = self.namer.fresh(array + "_old")
        written = self.type(target)
        saved = nodes.call(nodes.attribute_of(region, "copy"), []) if written.is_array else region
        saves = [nodes.assign(old, saved, stmt)]
        restores = [nodes.assign(nodes.subscript(array, nodes.clone(target.slice), store=True), old, stmt)]
        backward = []
        if array in self.a.active:
            seed = nodes.subscript(self.sens(array), nodes.clone(target.slice))
            if isinstance(value, gast.Name) and value.id in self.a.active:
                # a value broadcast into the region: its sensitivity is the region's, summed back
                spread = self.reduce_to(seed, value, written, broadcast=False) \
                    if self.type(value).ndim < written.ndim else seed
                backward.append(self.accumulate(self.sens(value.id), spread, stmt))
            backward.append(nodes.assign(nodes.subscript(self.sens(array), nodes.clone(target.slice),
                                                         store=True), 0.0, stmt))
        backward = backward + restores
        backward = [LineHead(stmt)] + backward
        return saves + [stmt], backward

    def adjoint(self, stmt, accumulates=None):
        """The `s_operand += partial * s_target` updates of one normalized assignment.
        `accumulates`: is_accumulation(target, value), where the caller knows it."""
        target, value = stmt.targets[0], stmt.value
        if type(target) is gast.Tuple:
            if value.id in self.gathered:         # the seed's `gradient = [s_a, s_b, s_c, s_d]`
                elements = [nodes.name(self.sens(e.id)) if e.id in self.a.active else nodes.const(0.0)
                            for e in target.elts]
                whole = nodes.call("np.array", [nodes.list_of(elements),
                                                nodes.attribute(f"{value.id}.dtype")])
                return [nodes.assign(self.sens(value.id), whole, stmt)]
            return [self.accumulate(nodes.subscript(self.sens(value.id), k), self.sens(e.id), stmt)
                    for k, e in enumerate(target.elts)
                    if e.id in self.a.active and value.id in self.a.active]
        if target.id not in self.a.active:
            return []
        seed = nodes.name(self.sens(target.id))
        out = self.a.types.get(target.id, shapes.FLOAT)          # (shapes.type_of of its name)
        value_kind = type(value)
        if value_kind is gast.Name:
            return self.contributions([(value, nodes.const(1.0), True)], seed, out, stmt)
        if value_kind is gast.Subscript:
            if value.value.id not in self.a.active:
                return []
            return [self.gather_contribution(value, seed, stmt)]
        if is_linear_chain(value):
            if accumulates is None:
                accumulates = is_accumulation(target.id, value)      # once, not per term
            terms = [(atom, nodes.const(sign), True) for sign, atom in linear_terms(value)
                     if not (accumulates and isinstance(atom, gast.Name) and atom.id == target.id)]
            # `S = S - m`: the old S meets the terms too, so an m of another shape was broadcast
            meets = [nodes.name(target.id)] if accumulates else []
            return self.contributions(terms, seed, out, stmt, meets)
        primitive = primitive_of(value)
        try:
            triples = derivative(primitive, operands(value), target.id, seed, self.a.types,
                                 self.a.active, self.rules_known)
        except AdjointError as exc:
            raise exc.at(locate(stmt, self.filename)) from None
        if primitive in rules.HELPERS_CALLED:        # its rule calls a helper (np.cumprod's)
            self.helpers |= rules.HELPERS_CALLED[primitive]
        updates = self.contributions(triples, seed, out, stmt)
        if len(updates) > 1 and (out.is_array or any(self.type(operand).is_array for operand, _, _ in triples)):
            return self.shared_calls(updates, stmt)      # (numbers' rules call no costly function)
        return updates

    def shared_calls(self, updates, stmt):
        """A costly call that several of one line's contributions make alike (solve's rule
        solves `np.linalg.solve(A.T.copy(), g)` for A and for b) is made once, into a
        temporary they read, where no contribution before the last reader writes a name the
        call reads."""
        found = collections.defaultdict(list)        # structure key -> the calls, in order
        for update in updates:
            for node in trees.walk(update.value):
                if type(node) is gast.Call and nodes.dotted(node.func) in COSTLY_CALLS:
                    found[trees.structure_key(node)].append(node)
        shared = [calls for calls in found.values() if len(calls) > 1]
        if not shared:
            return updates
        hoisted, replacements, inside = [], {}, set()
        for calls in shared:                        # (outer calls first: the walk's order)
            if any(id(c) in inside for c in calls):
                continue                            # (inside a call shared already)
            # made before the first update: no update up to its last reader may change a name it reads
            last = max(k for k, u in enumerate(updates) for n in trees.walk(u.value) if any(n is c for c in calls))
            if set().union(*(nodes.written_names(u) for u in updates[:last])) & nodes.loads_in(calls[0]):
                continue
            name = self.namer.temp()
            hoisted.append(nodes.assign(name, calls[0], stmt))
            self.learn_type(name, calls[0])
            for call in calls:
                inside.update(id(inner) for inner in trees.walk(call))
                replacements[id(call)] = nodes.name(name)
        if not hoisted:
            return updates
        return hoisted + [annotations.copy_to(trees.replaced(u, replacements), u) for u in updates]

    def learn_type(self, name, value):
        """Enter `name`, bound to `value` in the reverse sweep, in the type table (the lowering
        reads it): value's type with each sensitivity standing for its variable."""
        variables = {s: nodes.name(v) for s, v in self.namer.variables_of_sensitivities().items()}
        with contextlib.suppress(AdjointError):           # (an untyped call: left out)
            self.a.types[name] = shapes.type_of(nodes.with_loads_replaced(value, variables), self.a.types)

    def gather_contribution(self, value, seed, stmt):
        """`t = x[index]`: s_x[index] += s_t where no index repeats (slices, integers, masks).
        An integer array may repeat an index, which numpy's buffered `+=` would count once:
        there a runtime helper adds once per occurrence."""
        array, index = value.value.id, value.slice
        components = index.elts if isinstance(index, gast.Tuple) else [index]
        letters = "".join(self.index_letter(c) for c in components)
        if "a" not in letters:
            return self.accumulate(nodes.subscript(self.sens(array), nodes.clone(index)), seed, stmt)
        advanced = [k for k, c in enumerate(letters) if c in "an"]
        array_ranks = {self.type(c).ndim for c, letter in zip(components, letters) if letter == "a"}
        problem = ("a boolean mask together with an integer array" if "b" in letters
                   else "a partial slice together with an integer array" if "p" in letters
                   else "integer indices separated by a slice" if advanced[-1] - advanced[0] + 1 != len(advanced)
                   else "integer index arrays of different ranks" if len(array_ranks) > 1 else None)
        if problem is not None:
            raise AdjointError(f"differentiating a read with {problem} as its index is not supported",
                               location=locate(stmt, self.filename), stage="reverse",
                               hint="index in two steps: first the slice or mask, then the integer array "
                                    "alone (y = x[:, 1:3]; z = y[rows])")
        helper = self.helper(runtime.scatter_add(letters, array_ranks.pop(), self.type(value.value).ndim))
        arguments = [nodes.name(self.sens(array))] + [nodes.clone(c) for c, letter in zip(components, letters)
                                                       if letter != "s"] + [seed]
        return nodes.assign(self.sens(array), nodes.call(nodes.name(helper), arguments), stmt)

    def index_letter(self, component):
        """One index component, as runtime.scatter_add spells it: `s` a whole axis, `p` part
        of one (or `None`, `...`), `a` an integer array, `b` a boolean mask, `n` an integer."""
        if isinstance(component, gast.Slice):
            whole = component.lower is None and component.upper is None and component.step is None
            return "s" if whole else "p"
        if isinstance(component, gast.Constant) and (component.value is None or component.value is Ellipsis):
            return "p"                                    # np.newaxis, ...: not handled with arrays
        kind = self.type(component)
        if kind.is_array:
            return "b" if kind.kind == "bool" else "a"
        return "n"

    def contributions(self, triples, seed, out, stmt, meets=()):
        updates = []
        array_out, active = out.is_array, self.a.active
        arrays_in = 0
        if array_out:
            # how many distinct arrays meet (only an array result sums its contributions back)
            arrays = [o for o in [operand for operand, _, _ in triples] + list(meets) if self.type(o).is_array]
            arrays_in = len({_key(operand) for operand in arrays})
            if arrays_in > 1 and self.one_shape(arrays, out):
                arrays_in = 1                # provably no broadcast: nothing to sum back
        triples = _merge_repeated(triples)
        full = self.full_shape_names(stmt, out) if array_out else ()
        for operand, expression, is_partial in triples:
            if expression is None or type(operand) is not gast.Name or operand.id not in active:
                continue
            value = rules.times(expression, seed, array_out) if is_partial is True else expression
            if is_partial is True and full and type(value) is gast.BinOp and value.right is seed \
                    and _reads_whole(expression, full):
                annotations.set(value, "full_partial", True)
            unreduced = value
            if is_partial and array_out:     # (reduce_to leaves a scalar result's as it is)
                value = self.reduce_to(value, operand, out, broadcast=arrays_in > 1 or is_partial == "broadcast")
            update = self.accumulate(self.sens(operand.id), value, stmt)
            # an elementwise contribution not summed back has the operand's own shape, so the
            # optimizer may assign it to a zero sensitivity instead of adding it
            same_shape = (is_partial is True and value is unreduced and array_out
                          and self.type(operand).is_array)
            # (a partial's update into a number keeps the defaults: nothing to set; only array
            # rules' contributions carry exact_shape or broadcast_view)
            if array_out or is_partial is not True:
                annotations.set(update, "full_shape", (same_shape and not isinstance(value, gast.Name))
                                or annotations.get(expression, "exact_shape"))
                annotations.set(update, "alias_of", value.id if same_shape and isinstance(value, gast.Name) else None)
                annotations.set(update, "broadcast_view", annotations.get(expression, "broadcast_view"))
            updates.append(update)
        return updates

    def full_shape_names(self, stmt, out) -> set:
        """The names that provably hold arrays of the result's shape on an elementwise line:
        the result, and its array operands where they provably share one shape."""
        target = stmt.targets[0]
        if type(target) is not gast.Name:
            return set()
        atoms = operands(stmt.value)
        arrays = [n for n in atoms if type(n) is gast.Name and self.type(n).is_array]
        names = {target.id}
        if any(type(a) not in (gast.Name, gast.Constant) for a in atoms):
            return names                     # (an operand of unknown shape: the result alone)
        if arrays and (len({n.id for n in arrays}) == 1 or self.one_shape(arrays, out)):
            names.update(n.id for n in arrays)
        return names

    def reduce_to(self, value, operand, out, broadcast):
        """An elementwise contribution, summed back to the operand's own rank and shape."""
        mine = self.type(operand)
        if not out.is_array:
            return value
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
            # negate after summing: a pass over the small array, not the broadcast one
            summed = self.reduce_to(value.operand, operand, out, broadcast)
            return value if summed is value.operand else nodes.neg(summed)
        if not mine.is_array:
            return nodes.call("np.sum", [value])
        if mine.ndim < out.ndim or broadcast:
            name = self.helper(runtime.sum_to(out.ndim, mine.ndim))
            return nodes.call(nodes.name(name), [value, nodes.attribute(f"{operand.id}.shape")])
        return value

    def accumulate(self, target, value, origin):
        if target in self.single_use and target not in self.assigned_first:
            # its only contribution (the first to run, the line that reads it being at the
            # top level): assigned, with no zero before it, as in the Speelpenning form
            self.assigned_first.add(target)
            return nodes.assign(target, value, origin)
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
            return nodes.accumulate(target, value.operand, origin, op="-")
        return nodes.accumulate(target, value, origin)

    # branches -------------------------------------------------------------------------------

    def branch(self, stmt, defined, depth):
        f_body, b_body = self.sweep(stmt.body, defined, depth)
        f_else, b_else = self.sweep(stmt.orelse, defined, depth)
        test, keep = stmt.test, []
        if nodes.loads_in(test) & self.assigned(stmt.body + stmt.orelse):
            # the branch changes its own condition (a loop's `t_live`): keep the value it took
            taken = self.namer.fresh(test.id + "_taken")
            keep, test = [nodes.assign(taken, test, stmt)], nodes.name(taken)
        forward = keep + [nodes.if_(test, f_body or [nodes.pass_()], f_else, stmt)]
        if not (b_body or b_else):
            return forward, []
        return forward, [nodes.if_(nodes.clone(test), b_body or [nodes.pass_()], b_else, stmt)]

    # loops ----------------------------------------------------------------------------------

    def loop(self, stmt, defined, depth):
        """Checkpoint each iteration forward; restore, replay and reverse it backward."""
        body = [s for s in stmt.body if not annotations.get(s, "loop_exit")]
        counted = isinstance(stmt, gast.While) or len(body) != len(stmt.body)
        index = stmt.target.id if isinstance(stmt, gast.For) else None
        own = self.assigned(stmt.body)
        carried_defined = (defined - own) | (self.exposed(stmt) & own) | ({index} if index else set())
        replay, backward_body = self.sweep(body, carried_defined, depth + 1)
        replay = _without_guards(replay)        # the forward loop checked them
        carried = sorted((exposed_reads(replay + backward_body, {index} if index else set())
                          & own) - {index}, key=self._order)
        saves, restores = self.save(self.assigned([stmt]), defined, stmt)
        # an array only ever bound to another name in the loop (a helper's parameter) is bound
        # again by the replay before any use: it needs no checkpoint
        carried = [v for v in carried if not (v in self.a.arrays and v not in defined
                                              and _only_bound(v, stmt.body, self.assigned))]
        for v in carried:
            if v in self.a.arrays and v not in defined:
                raise AdjointError(f"array `{v}` is carried from one iteration to the next but "
                                   "first assigned inside the loop", location=locate(stmt, self.filename),
                                   hint=f"assign `{v}` before the loop")
        frame = LoopFrame(self, stmt, counted, index, carried)
        budget = annotations.get(stmt, "snapshot_budget")          # the loop's own (a marker, a pragma)
        if budget is None and depth == 0:
            budget = self.checkpoints
        if budget is not None:
            return self.checkpointed_loop(stmt, frame, budget, counted, body, replay, backward_body,
                                          saves + [nodes.assign(v, ZERO.get(self.a.kinds.get(v, "float"), 0.0), stmt)
                                                   for v in carried if v not in defined], restores)
        placeholders = [nodes.assign(v, ZERO.get(self.a.kinds.get(v, "float"), 0.0), stmt)
                        for v in carried if v not in defined]
        undo = frame.record_writes()
        if not counted and self.store:
            stored, shaped = stored_intermediates(stmt, replay, backward_body, self.a.types,
                                                  exposed=self.exposed(stmt))
            served = frame.describe(shaped, replay + backward_body)
            replay, backward_body = frame.store(stored, served[:len(replay)]), served[len(replay):]
        pops = [nodes.assign(v, frame.popped(v), stmt) for v in carried]
        replay_comment = [nodes.comment("Replay the iteration: recompute what its reverse reads.", stmt)]
        reverse_loop = frame.reverse(undo + pops + replay_comment + replay + backward_body)
        return (saves + placeholders + frame.setup + [frame.forward],
                [marked(nodes.comment(f'Reverse of the loop: "{line_text(stmt)}"', stmt)),
                 reverse_loop] + restores)

    def checkpointed_loop(self, stmt, frame, budget, counted, body, replay, backward_body, before, restores):
        """A loop under a snapshot budget (checkpoints=K, or its own marker): at most K snapshots
        of its state, the iterations between them run again (checkpoints.checkpointed); a loop
        without a trip count (`while`, `break`) thins its snapshots as it runs."""
        # an array the loop writes element by element comes back whole from its snapshot,
        # instead of through the undo of each write
        written = set().union(*(annotations.get(u, "also_writes") for u in frame.record_writes()))
        state = list(frame.carried) + sorted(written - set(frame.carried))
        replay_comment = [nodes.comment("Replay the iteration: recompute what its reverse reads.", stmt)]
        setup, forward, reverse_loop = checkpointed(frame, budget_of(budget), state, body,
                                                    replay_comment + replay + backward_body, online=counted)
        return (before + setup + [forward],
                [marked(nodes.comment(f'Reverse of the loop: "{line_text(stmt)}"', stmt)),
                 reverse_loop] + restores)


def _without_guards(stmts) -> list:
    """`stmts` without their `raise` statements (branches copied where one goes): a replayed
    iteration computes what the forward one did, which passed every guard. What only a guard
    read goes with it (dce)."""
    out = []
    for stmt in stmts:
        kind = type(stmt)
        if kind is gast.Raise:
            continue
        if (kind is gast.If or kind is gast.For or kind is gast.While) \
                and any(type(n) is gast.Raise for n in trees.walk(stmt)):
            stmt = copy.copy(stmt)
            stmt.body, stmt.orelse = _without_guards(stmt.body) or [nodes.pass_()], _without_guards(stmt.orelse)
        out.append(stmt)
    return out


_COMPOUND = frozenset((gast.If, gast.For, gast.While))


def _merge_repeated(triples):
    """x * x: one contribution with the partials added, (x + x) * s, instead of two."""
    names = [o.id for o, _, _ in triples if type(o) is gast.Name]
    if len(names) == len(set(names)):              # no name twice (most): nothing to merge
        return triples
    merged = []
    for operand, expression, how in triples:
        same = next((k for k, (o, e, h) in enumerate(merged) if how is True and h is True
                     and isinstance(o, gast.Name) and isinstance(operand, gast.Name)
                     and o.id == operand.id and e is not None and expression is not None), None)
        if same is None:
            merged.append((operand, expression, how))
        else:
            o, e, h = merged[same]
            merged[same] = (o, nodes.binop(e, "+", expression), True)
    return merged


def _only_bound(name, body, assigned) -> bool:
    assignments = [s for s in statements(body) if isinstance(s, gast.Assign)
                   and name in assigned([s])]
    return bool(assignments) and all(isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Name)
                                     for s in assignments)


def _stored_in_order(target) -> list:
    """The names a target stores, in gast.walk's order (a name or a flat tuple: directly)."""
    if isinstance(target, gast.Name):
        return [target.id] if isinstance(target.ctx, gast.Store) else []
    if isinstance(target, gast.Tuple) and all(isinstance(e, gast.Name) for e in target.elts):
        return [e.id for e in target.elts if isinstance(e.ctx, gast.Store)]
    return [n.id for n in gast.walk(target) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)]


def _reads_whole(expression, names) -> bool:
    """Whether `expression` reads one of `names` through elementwise operations only (so
    that it has that name's whole shape)."""
    kind = type(expression)
    if kind is gast.Name:
        return expression.id in names
    if kind is gast.BinOp:
        return _reads_whole(expression.left, names) or _reads_whole(expression.right, names)
    if kind is gast.UnaryOp:
        return _reads_whole(expression.operand, names)
    if kind is gast.Compare:
        return _reads_whole(expression.left, names) or any(_reads_whole(c, names) for c in expression.comparators)
    if kind is gast.Call and (nodes.is_ufunc_call(expression)
                              or (nodes.dotted(expression.func) == "np.where" and not expression.keywords)):
        return any(_reads_whole(a, names) for a in expression.args)
    return False


def _key(atom):
    return atom.id if isinstance(atom, gast.Name) else id(atom)


def _names_read(stmt):
    """The names a simple statement loads, each once: most normalized statements are
    `name = a op b` of atoms, read without a search."""
    if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
        value = stmt.value
        kind = type(value)
        if kind is gast.BinOp:
            left, right = value.left, value.right
            if type(left) is gast.Name and type(right) is gast.Constant:
                return (left.id,)
            if type(left) is gast.Constant and type(right) is gast.Name:
                return (right.id,)
            if type(left) is gast.Name and type(right) is gast.Name:
                return (left.id,) if left.id == right.id else (left.id, right.id)
        elif kind is gast.Name:
            return (value.id,)
    return nodes.loads_in(stmt)


