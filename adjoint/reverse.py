"""Stage 5, reverse: Speelpenning's transformation of normalized code into its adjoint.

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
"""

from __future__ import annotations

import copy

import gast

from . import nodes, rules
from .analyze import assigned, exposed_reads, linear_terms, operands
from .errors import AdjointError, locate
from .normalize import is_accumulation, is_linear_chain, primitive_of

ZERO = {"float": 0.0, "int": 0, "bool": False}
TAPE_DTYPE = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}


def reverse(tree: gast.FunctionDef, analysis, namer, *, filename="<adjoint>",
            return_value=False) -> gast.FunctionDef:
    """The adjoint FunctionDef `grad_<name>`: same arguments, returns the gradient(s)."""
    return _Reverse(tree, analysis, namer, filename).function(return_value)


class _Reverse:
    def __init__(self, tree, analysis, namer, filename):
        self.tree = tree
        self.a = analysis
        self.namer = namer
        self.filename = filename

    # the whole function ---------------------------------------------------------------------

    def function(self, return_value):
        body, final = self.tree.body[:-1], self.tree.body[-1]
        args = [a.id for a in self.tree.args.args]
        forward, backward = self.sweep(body, defined=set(args))
        originals = {id(stmt) for stmt in body}
        for stmt in forward:                     # the primal lines stay, for readability
            stmt.primal = id(stmt) in originals and isinstance(stmt, gast.Assign)
        header = nodes.comment("Reverse sweep: s_v is the sensitivity of the result to v.", final)
        header.keep = True
        inits = [header]
        result = self.a.result
        seeded = isinstance(result, gast.Name) and result.id in self.a.active
        for var in sorted(self.a.active | set(self.a.wrt), key=self._order):
            if seeded and var == result.id:
                continue
            inits.append(nodes.assign(self.sens(var), self.zero_sensitivity(var), final))
        seed = []
        if seeded:
            seed = [_marked(nodes.comment(f'Analyzing the line: "{final.source_text}"', final)),
                    nodes.assign(self.sens(result.id), 1.0, final)]
        backward = _group_comments(seed + backward)
        grads = [nodes.name(self.sens(w)) for w in self.a.wrt]
        value = grads[0] if len(grads) == 1 else nodes.tuple_(grads)
        if return_value:
            value = nodes.tuple_([copy.deepcopy(result), value])
        out = forward + inits + backward + [nodes.return_(value, final)]
        return nodes.function("grad_" + self.tree.name, args, out, self.tree)

    def _order(self, var):
        """Sensitivities are declared arguments first, then in order of assignment (the seed's order)."""
        if not hasattr(self, "_rank"):
            order = [a.id for a in self.tree.args.args]
            for node in _statements(self.tree.body):
                if isinstance(node, gast.Assign):
                    order += [n.id for n in gast.walk(node.targets[0])
                              if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)]
            self._rank = {name: k for k, name in enumerate(dict.fromkeys(order))}
        return self._rank.get(var, len(self._rank)), var

    def sens(self, var):
        return self.namer.sensitivity(var)

    def zero_sensitivity(self, var):
        if var in self.a.arrays:
            return nodes.call("np.zeros_like", [var])
        return nodes.const(0.0)

    # a block of statements ------------------------------------------------------------------

    def sweep(self, stmts, defined):
        """(forward, reverse) code for `stmts`: the forward part runs them and saves what the
        reverse part needs; the reverse part is their adjoint, last statement first."""
        forward, backward = [], []
        defined = set(defined)
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                f, b = self.assignment(stmt, defined)
            elif isinstance(stmt, gast.If):
                f, b = self.branch(stmt, defined)
            elif isinstance(stmt, (gast.For, gast.While)):
                f, b = self.loop(stmt, defined)
            elif isinstance(stmt, gast.Pass):
                f, b = [], []
            else:
                raise AdjointError(f"unexpected {type(stmt).__name__} in normalized code",
                                   location=locate(stmt, self.filename), stage="reverse")
            forward += f
            backward = b + backward
            defined |= assigned([stmt])
        return forward, _group_comments(backward)

    def save(self, names, defined, origin):
        """Copies of the values about to be overwritten that the reverse sweep reads."""
        needed = sorted(n for n in names if n in self.a.reverse_reads and n in defined)
        copies = {n: self.namer.fresh(n + "_old") for n in needed}
        saves = [nodes.assign(c, n, origin) for n, c in copies.items()]
        restores = [nodes.assign(n, c, origin) for n, c in copies.items()]
        return saves, restores

    # assignments ----------------------------------------------------------------------------

    def assignment(self, stmt, defined):
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            raise AdjointError("assigning to array elements is not supported yet",
                               location=locate(stmt, self.filename),
                               hint="build the values as separate scalars, or compute them in a helper")
        targets = [e.id for e in target.elts] if isinstance(target, gast.Tuple) else [target.id]
        saves, restores = self.save(targets, defined, stmt)
        adjoint = self.adjoint(stmt)
        accumulates = isinstance(target, gast.Name) and is_accumulation(target.id, stmt.value)
        resets = [nodes.assign(self.sens(t), 0.0, stmt) for t in targets
                  if t in self.a.active and t not in self.a.assigned_once and t not in self.a.arrays
                  and not accumulates]        # s = s + t leaves s_s as it is
        backward = adjoint + resets + restores
        if backward:
            backward = [_marked(nodes.comment(f'Analyzing the line: "{stmt.source_text}"', stmt))] + backward
        return saves + [stmt], backward

    def adjoint(self, stmt):
        """The `s_operand += partial * s_target` updates of one normalized assignment."""
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Tuple):
            return [self.accumulate(nodes.subscript(self.sens(value.id), k), self.sens(e.id), stmt)
                    for k, e in enumerate(target.elts)
                    if e.id in self.a.active and value.id in self.a.active]
        if target.id not in self.a.active:
            return []
        seed = nodes.name(self.sens(target.id))
        if isinstance(value, gast.Name):
            return self.contributions([(value, nodes.const(1.0))], seed, stmt)
        if isinstance(value, gast.Subscript):
            if value.value.id not in self.a.active:
                return []
            element = nodes.subscript(self.sens(value.value.id), copy.deepcopy(value.slice))
            return [self.accumulate(element, seed, stmt)]
        if is_linear_chain(value):
            terms = [(atom, nodes.const(sign)) for sign, atom in linear_terms(value)
                     if not (is_accumulation(target.id, value) and isinstance(atom, gast.Name)
                             and atom.id == target.id)]
            return self.contributions(terms, seed, stmt)
        primitive = primitive_of(value)
        rule = rules.lookup(primitive)
        if rule is None:
            return []
        args = operands(value)
        return self.contributions(list(zip(args, rule.instantiate(args, target.id))), seed, stmt)

    def contributions(self, pairs, seed, stmt):
        updates = []
        for operand, partial in pairs:
            if isinstance(operand, gast.Name) and operand.id in self.a.active:
                updates.append(self.accumulate(self.sens(operand.id), _scale(partial, seed), stmt))
        return updates

    def accumulate(self, target, value, origin):
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
            return nodes.accumulate(target, value.operand, origin, op="-")
        return nodes.accumulate(target, value, origin)

    # branches -------------------------------------------------------------------------------

    def branch(self, stmt, defined):
        f_body, b_body = self.sweep(stmt.body, defined)
        f_else, b_else = self.sweep(stmt.orelse, defined)
        test, keep = stmt.test, []
        if nodes.loads_in(test) & assigned(stmt.body + stmt.orelse):
            # the branch changes its own condition (a loop's `t_live`): keep the value it took
            taken = self.namer.fresh(test.id + "_taken")
            keep, test = [nodes.assign(taken, test, stmt)], nodes.name(taken)
        forward = keep + [nodes.if_(test, f_body or [gast.Pass()], f_else, stmt)]
        if not (b_body or b_else):
            return forward, []
        return forward, [nodes.if_(copy.deepcopy(test), b_body or [gast.Pass()], b_else, stmt)]

    # loops ----------------------------------------------------------------------------------

    def loop(self, stmt, defined):
        """Checkpoint each iteration forward; restore, replay and reverse it backward."""
        body = [s for s in stmt.body if not getattr(s, "loop_exit", False)]
        counted = isinstance(stmt, gast.While) or len(body) != len(stmt.body)
        index = stmt.target.id if isinstance(stmt, gast.For) else None
        own = assigned(stmt.body)
        carried_defined = (defined - own) | (exposed_reads(stmt.body) & own) | ({index} if index else set())
        replay, backward_body = self.sweep(body, carried_defined)
        carried = sorted((exposed_reads(replay + backward_body, {index} if index else set())
                          & assigned(stmt.body)) - {index}, key=self._order)
        saves, restores = self.save(assigned([stmt]), defined, stmt)

        setup, forward_loop, reverse_head, iteration = self.loop_frame(stmt, counted, index, carried)
        placeholders = [nodes.assign(v, ZERO.get(self.a.kinds.get(v, "float"), 0.0), stmt)
                        for v in carried if v not in defined]
        pops = [nodes.assign(v, nodes.subscript(self.tape(v), iteration), stmt) for v in carried]
        replay_comment = [nodes.comment("Replay the iteration: recompute what its reverse reads.", stmt)]
        reverse_loop = reverse_head(pops + replay_comment + replay + backward_body)
        return (saves + placeholders + setup + [forward_loop],
                [_marked(nodes.comment(f'Reverse of the loop: "{stmt.source_text}"', stmt)),
                 reverse_loop] + restores)

    def tape(self, var):
        if not hasattr(self, "_tapes"):
            self._tapes = {}
        if var not in self._tapes:
            self._tapes[var] = self.namer.fresh("tape_" + var)
        return self._tapes[var]

    def tape_alloc(self, var, size, origin):
        kind = self.a.kinds.get(var, "float")
        return nodes.assign(self.tape(var), nodes.call("np.empty", [size, nodes.attribute(TAPE_DTYPE[kind])]),
                            origin)

    def tape_grow(self, var, origin):
        """Double a tape's capacity (amortized growth for while loops)."""
        tape = self.tape(var)
        doubled = nodes.call("np.concatenate", [nodes.tuple_([tape, nodes.call("np.empty_like", [tape])])])
        return nodes.assign(tape, doubled, origin)

    def loop_frame(self, stmt, counted, index, carried):
        """Forward loop with checkpoints, and the head of the reverse loop.

        Returns (setup, forward loop, make_reverse_loop(body), tape index expression)."""
        pushes_at = lambda at: [nodes.assign(nodes.subscript(self.tape(v), at, store=True), v, stmt)
                                for v in carried]
        if isinstance(stmt, gast.For):
            start, stop, step = _range_parts(stmt.iter.args)
            trips = nodes.call("len", [nodes.call("range", copy.deepcopy(stmt.iter.args))])
        if not counted:
            at = index if _is_zero(start) else nodes.binop(index, "-", start)
            if not (isinstance(step, gast.Constant) and step.value == 1):
                at = gast.BinOp(left=at, op=gast.FloorDiv(), right=copy.deepcopy(step))
            setup = [self.tape_alloc(v, copy.deepcopy(trips), stmt) for v in carried]
            forward = copy.deepcopy(stmt)
            forward.body = pushes_at(at) + forward.body
            bounds = _reversed_range(start, stop, step)
            if bounds is not None:
                return setup, forward, lambda body: nodes.for_range(index, bounds, body, stmt), at
            k = self.namer.fresh("t_iter")
            head = [nodes.assign(index, nodes.binop(start, "+", nodes.binop(k, "*", step)), stmt)]
            reverse_range = [nodes.binop(copy.deepcopy(trips), "-", 1), -1, -1]
            return setup, forward, lambda body: nodes.for_range(k, reverse_range, head + body, stmt), k

        count, k = self.namer.fresh("t_count"), self.namer.fresh("t_iter")
        capacity = copy.deepcopy(trips) if isinstance(stmt, gast.For) else nodes.const(16)
        setup = [nodes.assign(count, 0, stmt)] + [self.tape_alloc(v, capacity, stmt) for v in carried]
        grow = []
        if isinstance(stmt, gast.While) and carried:
            full = self.namer.fresh("t_full")
            capacity_now = nodes.subscript(nodes.attribute(f"{self.tape(carried[0])}.shape"), 0)
            grow = [nodes.assign(full, gast.Compare(left=nodes.name(count), ops=[gast.Eq()],
                                                    comparators=[capacity_now]), stmt),
                    nodes.if_(full, [self.tape_grow(v, stmt) for v in carried], origin=stmt)]
        forward = copy.deepcopy(stmt)
        forward.body = grow + pushes_at(count) + [nodes.accumulate(count, 1, stmt)] + forward.body
        head = []
        if index is not None:
            head = [nodes.assign(index, nodes.binop(start, "+", nodes.binop(k, "*", step)), stmt)]
        reverse_range = [nodes.binop(count, "-", 1), -1, -1]
        return setup, forward, lambda body: nodes.for_range(k, reverse_range, head + body, stmt), k


def _statements(body):
    """Every statement, in source order (compound statements before their bodies)."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse"):
            yield from _statements(getattr(stmt, field, []) or [])


def _range_parts(args):
    args = [copy.deepcopy(a) for a in args]
    if len(args) == 1:
        return nodes.const(0), args[0], nodes.const(1)
    if len(args) == 2:
        return args[0], args[1], nodes.const(1)
    return args[0], args[1], args[2]


def _is_zero(node):
    return isinstance(node, gast.Constant) and node.value == 0


def _reversed_range(start, stop, step):
    """range(...) backwards, when it has a simple spelling: unit steps only."""
    if isinstance(step, gast.Constant) and step.value == 1:
        last = nodes.binop(copy.deepcopy(stop), "-", 1)
        before = nodes.const(-1) if _is_zero(start) else nodes.binop(copy.deepcopy(start), "-", 1)
        return [last, before, nodes.const(-1)]
    return None


def _scale(partial, seed):
    """partial * seed, skipping the multiplication by +-1."""
    if isinstance(partial, gast.Constant) and partial.value == 1.0:
        return seed
    if isinstance(partial, gast.Constant) and partial.value == -1.0:
        return nodes.neg(seed)
    return nodes.binop(partial, "*", seed)


def _marked(comment):
    comment.block_head = True
    return comment


def _group_comments(stmts):
    """One `# Analyzing the line` per run of blocks from the same user line."""
    out, last = [], None
    for stmt in stmts:
        if nodes.is_comment(stmt) and getattr(stmt, "block_head", False):
            key = (stmt.value.value, getattr(stmt, "source_file", None), stmt.lineno)
            if key == last:
                continue
            last = key
        elif not nodes.is_comment(stmt) and isinstance(stmt, (gast.If, gast.For, gast.While)):
            last = None
        out.append(stmt)
    return out
