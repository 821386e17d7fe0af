"""Tangent (forward-mode) code from the same rule table.

    def f(x, y):                     def jvp_f(x, y, d_x, d_y):
        t_1 = x * y          ->          t_1 = x * y
        t_2 = math.sin(t_1)              d_1 = y * d_x + x * d_y
        return t_2                       t_2 = math.sin(t_1)
                                         d_2 = math.cos(t_1) * d_1
                                         return t_2, d_2

Each active assignment is followed by its tangent: the sum over active operands of the
rule's partial times the operand's tangent `d_*` (array primitives use their JVP rules).
Control flow is kept as it is: forward mode needs no tape. The code runs the primal and its
directional derivative together, which is what Jacobians (column by column) and
forward-over-reverse Hessians need.
"""

from __future__ import annotations

import copy

import gast

from ..analysis import shapes
from ..analysis.activity import derivative, operands
from ..errors import AdjointError, locate
from ..ir import annotations, nodes
from ..ir.grammar import is_linear_chain, linear_terms, primitive_of
from ..primitives import rules


def forward(tree: gast.FunctionDef, analysis, namer, *, filename="<adjoint>") -> gast.FunctionDef:
    """`jvp_<name>(args..., d_<wrt>...)`, returning (value, tangent of the value)."""
    return _Forward(tree, analysis, namer, filename).function()


class _Forward:
    def __init__(self, tree, analysis, namer, filename):
        self.tree, self.a, self.namer, self.filename = tree, analysis, namer, filename
        self.helpers = set()                 # runtime helpers the tangent rules call (rule_helpers.py)

    def d(self, var):
        return self.namer.tangent(var)

    def type(self, atom):
        return shapes.type_of(atom, self.a.types)

    def type_of_name(self, name):
        return self.a.types.get(name, shapes.FLOAT)

    def function(self):
        body, final = self.tree.body[:-1], self.tree.body[-1]
        args = [a.id for a in self.tree.args.args]
        out = self.block(body)
        result = final.value
        tangent = self.tangent_of(result, final)
        header = nodes.comment("Tangents: d_v is the derivative of v along the input direction.", final)
        out = [header] + self.zero_tangents_of_written_arguments(args, final) + out + [nodes.return_(nodes.tuple_([copy.deepcopy(result), tangent]), final)]
        fn = nodes.function("jvp_" + self.tree.name, args + [self.d(w) for w in self.a.wrt], out, self.tree)
        annotations.set(fn, "runtime_helpers", sorted(self.helpers))
        return fn

    def zero_tangents_of_written_arguments(self, args, origin):
        """An argument not differentiated that an active value is written into (`y[0] = x[0]`,
        `s = s + x`) is active from then on: its tangent starts at zero, not undefined."""
        return [nodes.assign(self.d(arg), nodes.call("np.zeros_like", [nodes.name(arg)])
                             if self.type(nodes.name(arg)).is_array else nodes.const(0.0), origin)
                for arg in args if arg in self.a.active and arg not in self.a.wrt]

    def tangent_of(self, atom, origin):
        if isinstance(atom, gast.Name) and atom.id in self.a.active:
            return nodes.name(self.d(atom.id))
        if self.type(atom).is_array:
            return nodes.call("np.zeros_like", [copy.deepcopy(atom)])
        return nodes.const(0.0)

    def block(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.Assign):
                out += [stmt] + self.assignment(stmt)
            elif isinstance(stmt, gast.If):
                new = copy.copy(stmt)
                new.body, new.orelse = self.block(stmt.body) or [nodes.pass_()], self.block(stmt.orelse)
                out.append(new)
            elif isinstance(stmt, (gast.For, gast.While)):
                new = copy.copy(stmt)
                new.body = self.block(stmt.body) or [nodes.pass_()]
                out.append(new)
            elif isinstance(stmt, (gast.Pass, gast.Break, gast.Continue, gast.Raise)):
                out.append(stmt)
            else:
                raise AdjointError(f"unexpected {type(stmt).__name__} in normalized code",
                                   location=locate(stmt, self.filename), stage="forward")
        return out

    def assignment(self, stmt):
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Subscript):
            array = target.value.id
            if array not in self.a.active:
                return []
            region = nodes.subscript(self.d(array), copy.deepcopy(target.slice), store=True)
            return [nodes.assign(region, self.tangent_of(value, stmt), stmt)]
        if isinstance(target, gast.Tuple):
            return [nodes.assign(self.d(e.id), nodes.subscript(self.d(value.id), k)
                                 if value.id in self.a.active else nodes.const(0.0), stmt)
                    for k, e in enumerate(target.elts) if e.id in self.a.active]
        if target.id not in self.a.active:
            return []
        tangent = self.tangent(target, value, stmt)
        if isinstance(tangent, gast.Name) and not isinstance(value, gast.Name) \
                and self.type(target).is_array and {target.id, tangent.id} & self.written_in_place():
            # `d_B = d_A` (of `B = A * 1.0`, `B = A + c`, where B is a new array) binds both
            # tangents to one array: an element write into either would change the other too
            tangent = nodes.call(nodes.attribute_of(tangent, "copy"), [])
        return [nodes.assign(self.d(target.id), tangent, stmt)]

    def written_in_place(self) -> set:
        """The arrays some statement writes into (`y[i] = e`), the names that may share their
        memory, and their tangents."""
        if not hasattr(self, "_written"):
            self._written = {stmt.targets[0].value.id for stmt in nodes.statements(self.tree.body)
                             if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript)
                             and isinstance(stmt.targets[0].value, gast.Name)}
            groups = nodes.memory_groups(self.tree.body)        # (its views: `t = np.transpose(A)`)
            self._written = self._written.union(*(groups.get(n, ()) for n in self._written))
            self._written |= {self.d(n) for n in self._written}
        return self._written

    def tangent(self, target, value, stmt):
        def zero():
            if self.type(target).is_array:
                return nodes.call("np.zeros_like", [nodes.name(target.id)])
            return self.tangent_of(nodes.const(0.0), stmt)
        if isinstance(value, gast.Name):
            return self.tangent_of(value, stmt) if value.id in self.a.active else zero()
        if isinstance(value, gast.Subscript):
            array = value.value.id
            return nodes.subscript(self.d(array), copy.deepcopy(value.slice)) if array in self.a.active else zero()
        if is_linear_chain(value):
            atoms = [atom for _, atom in linear_terms(value)]
            terms = [(sign, atom) for sign, atom in linear_terms(value)
                     if isinstance(atom, gast.Name) and atom.id in self.a.active]
            # an array that does not vary may set the shape (`zeros + a`, `M + row`): the sum of
            # the tangents has only the active operands' shape, so broadcast it to the result's
            shaped_by_constant = any(self.type(atom).is_array for atom in atoms
                                     if not _is_active(atom, self.a.active))
            total = _signed_sum([(s, nodes.name(self.d(a.id))) for s, a in terms])
            return self.broadcast_to_target(total, target, [a for _, a in terms], shaped_by_constant) or zero()
        primitive = primitive_of(value)
        args = operands(value)
        jvp_rule = rules.lookup_jvp(primitive, [self.type(a).ndim for a in args])
        if primitive in rules.HELPERS_CALLED:        # its rule calls a helper (np.cumprod's)
            self.helpers |= rules.HELPERS_CALLED[primitive]
        if jvp_rule is not None:
            tangents = [self.tangent_of(a, stmt) if not isinstance(a, (gast.Tuple, gast.List))
                        else a for a in args]
            terms = jvp_rule.instantiate(args, tangents, target.id)
            active = [(a, t) for a, t in zip(args, terms) if t is not None and _is_active(a, self.a.active)]
            total = _signed_sum([(1.0, t) for _, t in active])
            if any(isinstance(a, (gast.Tuple, gast.List)) for a, _ in active):
                return total or zero()        # a rule over parts (np.stack) shapes its own tangent
            return self.broadcast_to_target(total, target, [a for a, _ in active]) or zero()
        parts = rules.lookup_parts(primitive)
        if parts is not None and args and isinstance(args[0], (gast.Tuple, gast.List)):
            elements = [self.tangent_of(e, stmt) for e in args[0].elts]
            call = copy.deepcopy(value)
            call.args[0] = nodes.make(type(args[0]), elts=elements, ctx=nodes.make(gast.Load))
            return call
        partials = {}                     # operand -> its partial (x * x: the two summed)
        try:
            contributions = derivative(primitive, args, target.id, "g", self.a.types, self.a.active,
                                       partials_first=True)
        except AdjointError as exc:
            raise exc.at(locate(stmt, self.filename)) from None
        for operand, partial, how in contributions:
            if how is not True:
                raise AdjointError(f"no forward-mode rule for {getattr(primitive, '__name__', primitive)}",
                                   location=locate(stmt, self.filename),
                                   hint="register one with @adjoint.tangent_rule")
            if partial is not None and isinstance(operand, gast.Name) and operand.id in self.a.active:
                known = partials.get(operand.id)
                partials[operand.id] = partial if known is None else nodes.binop(known, "+", partial)
        # a scalar operand's tangent times an array partial: no guard (it would mix the types)
        terms = [(1.0, rules.times(p, nodes.name(self.d(name)), self.type_of_name(name).is_array)
                  if self.type_of_name(name).is_array == self.type(target).is_array
                  else nodes.scaled(p, nodes.name(self.d(name)))) for name, p in partials.items()]
        return self.broadcast_to_target(_signed_sum(terms), target,
                                        [nodes.name(name) for name in partials]) or zero()

    def broadcast_to_target(self, tangent, target, active_operands, shaped_by_constant=False):
        """The tangent with the result's full shape. numpy broadcasts the operands' values, so
        a tangent built from operands of lower rank than the result (a scalar bias added to an
        array), or beside an operand that does not vary and may set the shape, is broadcast the
        same way: `d_t + np.zeros_like(t)`, a new array later element writes may update. (The
        mirror of reverse mode's summing a sensitivity back to the operand's shape.)"""
        if tangent is None or not self.type(target).is_array:
            return tangent
        widest = max((self.type(a).ndim for a in active_operands), default=0)
        if widest >= self.type(target).ndim and not shaped_by_constant:
            return tangent
        return nodes.binop(tangent, "+", nodes.call("np.zeros_like", [nodes.name(target.id)]))


def _is_active(atom, active):
    if isinstance(atom, gast.Name):
        return atom.id in active
    if isinstance(atom, (gast.Tuple, gast.List)):
        return any(_is_active(e, active) for e in atom.elts)
    return False


def _signed_sum(terms):
    total = None
    for sign, term in terms:
        if total is None:
            total = term if sign > 0 else nodes.neg(term)
        else:
            total = nodes.binop(total, "+" if sign > 0 else "-", term)
    return total
