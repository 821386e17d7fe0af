"""Helpers inlined: a call to a plain Python function (of the user's module, a local function
or a closure) is replaced by the helper's body, normalized in place by a normalizer of its
own that shares the caller's names, with its locals renamed `<helper>_<name>`, its
parameters bound to the call's arguments (keywords and defaults included) and its single
return, the call's value. A parameter the helper never rebinds reads the caller's variable
itself; recursion is rejected.
"""

from __future__ import annotations

import dataclasses

import gast
import numpy as np

from ..errors import AdjointError
from ..ir import annotations, nodes, trees
from . import parse as parse_stage
from .desugar import desugar
from .structure import structure_returns
from .tuples import Aggregate, from_returned


class Inlining:
    """Mixin of the normalizer (normalize._Normalizer): helpers inlined."""

    def bind_parameters(self, call, helper, args, keywords):
        """The helper's arguments in parameter order: positional ones, then keywords by name,
        then the defaults of the rest (numbers, or arrays read like module data)."""
        names = helper.user_args
        if helper.starred is not None:          # def f(w, *args): the extra arguments, a tuple
            star, before = helper.starred
            bound = dict(zip(names[:before], args[:before]))
            bound[star] = Aggregate("tuple", list(args[before:]), call)
        else:
            if len(args) > len(names):
                raise AdjointError(f"{helper.name}() takes {len(names)} arguments, {len(args)} given",
                                   location=self.where(call))
            bound = dict(zip(names, args))
        for keyword in keywords:
            if keyword.arg is None:
                raise AdjointError(f"`**` arguments in a call to {helper.name}() are not supported",
                                   location=self.where(call), hint="pass each argument by name")
            if keyword.arg not in names:
                raise AdjointError(f"{helper.name}() has no parameter `{keyword.arg}`",
                                   location=self.where(call),
                                   hint=f"its parameters are {', '.join(names)}")
            if keyword.arg in bound:
                raise AdjointError(f"{helper.name}() got two values for `{keyword.arg}`",
                                   location=self.where(call))
            bound[keyword.arg] = keyword.value
        nones = {helper.emitted(name) for name in names if name in bound and _is_none(bound[name])} | {
            helper.emitted(name) for name in names if name not in bound and name in helper.defaults
            and helper.defaults[name] is None}
        given = {helper.emitted(name) for name in names if name in bound and not _is_none(bound[name])} | {
            helper.emitted(name) for name in names if name not in bound and name in helper.defaults
            and helper.defaults[name] is not None}
        if nones or any(isinstance(n, gast.Compare) and isinstance(n.ops[0], (gast.Is, gast.IsNot))
                        for n in trees.walk(helper.tree)):
            # `if ax is not None: ax.plot(...)`, `if w is None: w = ...`: the branch not taken goes
            helper.tree = _without_none_branches(helper.tree, nones, given)
        read = {n.id for n in trees.walk(helper.tree) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
        for name in names:
            if name not in bound:
                if name not in helper.defaults:
                    raise AdjointError(f"{helper.name}() is missing a value for its parameter `{name}`",
                                       location=self.where(call))
                if helper.defaults[name] is None and _never_read_as_given(helper.tree, helper.emitted(name), read):
                    bound[name] = UNUSED        # `ax=None`: a plotting argument the body never reads
                    continue
                bound[name] = self.default_value(call, helper, name)
            elif _is_none(bound[name]) and _never_read_as_given(helper.tree, helper.emitted(name), read):
                bound[name] = UNUSED
        return [bound[name] for name in names]

    def function_named(self, node):
        """The function a Name of the caller's source holds (a local def or a named lambda, a
        module-level function, a numpy function), else None."""
        if isinstance(node, gast.Attribute) and isinstance(node.ctx, gast.Load):    # np.sin
            from ..primitives import rules, table
            dotted = nodes.dotted(node) or ""
            if dotted.split(".")[0] not in ("np", "math"):
                return None
            try:
                value = table.resolve(dotted)
            except (AttributeError, KeyError, ValueError, TypeError):
                return None
            return value if rules.is_differentiable(value) else None
        if not isinstance(node, gast.Name):
            return None
        local = self.parsed.local_functions.get(node.id)
        if local is not None:
            return local
        if node.id in self.caller_locals():
            return None                     # a variable of the caller (a parameter holding a function included)
        value = self.parsed.namespace.get(node.id)
        return value if callable(value) and not isinstance(value, (type, np.ndarray)) else None

    def caller_locals(self) -> set:
        """parse.local_names of the caller, found once per caller (a walk of its whole tree:
        asked per argument of every call, it took most of the time of long gradients
        differentiated again)."""
        tree = self.parsed.tree
        known = getattr(self, "_caller_locals", None)
        if known is None or known[0] is not tree:
            known = self._caller_locals = (tree, parse_stage.local_names(tree))
        return known[1]

    def with_function_arguments(self, call, helper):
        """`helper` with each call of a parameter that the call passes a function to (and the
        helper never rebinds) made a call of that function: `def rk4(f, y, h): k1 = f(y)`,
        called as rk4(dX_dt, y0, h), calls dX_dt, inlined like any helper."""
        passed = {}
        for k, arg in enumerate(call.args):
            if k < len(helper.args) and self.function_named(arg) is not None:
                passed[helper.args[k]] = self.function_named(arg)
        for keyword in call.keywords:
            if keyword.arg in helper.user_args and self.function_named(keyword.value) is not None:
                passed[helper.emitted(keyword.arg)] = self.function_named(keyword.value)
        stored = {n.id for s in helper.tree.body for n in trees.walk(s)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del))}
        passed = {p: f for p, f in passed.items() if p not in stored}
        if not passed:
            return helper
        tree = nodes.clone(helper.tree)
        for node in trees.walk(tree):
            if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id in passed:
                function = passed[node.func.id]
                annotations.set(node, "callee", function)
                spelled = parse_stage.spelling(function)
                if spelled is not None:                           # np.sin passed: called as np.sin
                    node.func = gast.copy_location(nodes.attribute(spelled), node.func)
        return dataclasses.replace(helper, tree=tree)

    def default_value(self, call, helper, name):
        """An atom for a helper parameter's default: a number, or a numeric array, passed to
        the compiled code like the arrays the helper reads from its module."""
        value = helper.defaults[name]
        if isinstance(value, (bool, int, float, np.integer, np.floating)):
            return nodes.const(value.item() if isinstance(value, np.generic) else value)
        if parse_stage.is_data(value):
            emitted = self.parsed.names.name(value, f"{helper.name}_{name}_default", self.namer.taken)
            self.namer.taken.add(emitted)
            defaults = helper.fn.__defaults__ or ()
            position = len(helper.user_args) - len(defaults)
            if name in helper.user_args[position:] and name not in (helper.fn.__kwdefaults__ or {}):
                index = helper.user_args.index(name) - position
                read = (lambda fn, k: lambda: fn.__defaults__[k])(helper.fn, index)
            else:
                read = (lambda fn, key: lambda: fn.__kwdefaults__[key])(helper.fn, name)
            self.parsed.data.setdefault(emitted, parse_stage.DataSource(
                emitted, f"{helper.name}({name}=...)", read, parse_stage.data_type(value)))
            return nodes.name(emitted)
        tested = value is None and any(
            isinstance(n, gast.Compare) and isinstance(n.left, gast.Name) and n.left.id == helper.emitted(name)
            and isinstance(n.ops[0], (gast.Is, gast.IsNot)) for n in trees.walk(helper.tree))
        hint = f"decide it first: make `if {name} is None: {name} = ...` the first statement of {helper.name}()" \
            if tested else f"pass `{name}` in the call: {helper.name}(..., {name}=...)"
        raise AdjointError(f"the default value {value!r} of `{name}` in {helper.name}() is not a "
                           f"number or an array of numbers", location=self.where(call), hint=hint)

    def inline(self, call, callee, args, pre, stmt, keywords=()):
        """Inline a plain Python helper: bind its parameters, normalize its body, take its result."""
        from . import validate as validate_stage
        if callee in self.inlining:
            chain = " -> ".join(f.__name__ for f in self.inlining + (callee,))
            raise AdjointError(f"recursive call {chain}", location=self.where(call),
                               hint="rewrite the recursion as a loop")
        helper = parse_stage.parse(callee, self.parsed.names, self.namer.taken, helper=True)  # one naming of globals
        helper = self.with_function_arguments(call, helper)     # rk4(f, y, h): f(...) calls the function passed
        args = self.bind_parameters(call, helper, args, keywords)
        # for v in x, comprehensions; a loop over a parameter holding the caller's literal
        # list of tuples or arrays, `for W, b in params`, unrolled as over the literal
        sequences = {p: len(a.elts) for p, a in zip(helper.args, args)
                     if isinstance(a, Aggregate) and not _all_constant(a)}
        helper = desugar(helper, sequences)
        validate_stage.validate(helper)
        unused = {p for p, a in zip(helper.args, args) if a is UNUSED}
        self.parsed.namespace.update(helper.namespace)
        self.parsed.data.update(helper.data)
        for label, source in helper.constants.items():
            self.parsed.constants.setdefault(f"{label} in {helper.name}", source)
        locals_ = parse_stage.local_names(helper.tree)          # its globals keep their module names
        # A parameter the helper never rebinds reads the caller's variable itself: no copy
        # (nor, for arrays, a sensitivity array of its own per call); a sequence passed to it,
        # the caller's elements.
        stored = {n.id for s in helper.tree.body for n in trees.walk(s)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del))}
        shared = {p: a.id for p, a in zip(helper.args, args)
                  if isinstance(a, gast.Name) and p not in stored}
        rename = {v: shared.get(v) or self.namer.fresh(f"{helper.name}_{v}") for v in sorted(locals_)}
        if isinstance(callee, parse_stage.LocalFunction):       # a closure reads its definer's names
            rename = {**self.scopes.get(callee, {}), **rename}
        for local in helper.local_functions.values():
            self.scopes[local] = rename
        inner = type(self)(helper, self.namer, self.inlining + (callee,), rename, outer=self)
        binds = []
        for p, a in zip(helper.args, args):
            if p in unused:
                continue
            changed = _changes_list(helper.tree, p) if isinstance(a, Aggregate) else None
            if changed == "method":
                raise AdjointError(f"{helper.name}() changes the list passed as `{p}` (append, insert, pop)",
                                   location=self.where(call),
                                   hint=f"return the new list from {helper.name}() and bind it here")
            if isinstance(a, Aggregate) and p not in stored \
                    and (changed is None or isinstance(a.origin, gast.Name)):
                self.aggregates[rename[p]] = a      # (a named list: its elements, written there too)
            elif isinstance(a, Aggregate):
                binds += self.bind_aggregate(rename[p], a, stmt)
            elif p not in shared:
                self.plain.add(rename[p])
                binds.append(nodes.assign(rename[p], a, stmt))
        result = rename.get("__result__") or self.namer.fresh(f"{helper.name}_result")
        body = structure_returns(nodes.clone(helper.tree.body), self.namer)
        stmts = inner.block(body)
        for s in nodes.statements(stmts):
            if not annotations.has(s, "source_file"):
                annotations.set(s, "source_file", helper.filename)
        final = stmts.pop()                      # the single `return atom`
        returned = from_returned(final.value)
        if returned is not None:                 # `return h, c`: the caller takes the elements
            return pre + binds + stmts, returned
        last = stmts[-1] if stmts else None
        if isinstance(final.value, gast.Name) and final.value.id in self.namer.temporaries \
                and isinstance(last, gast.Assign) and isinstance(last.targets[0], gast.Name) \
                and last.targets[0].id == final.value.id:
            last.targets[0].id = result          # `return u * u` computes the result directly
            return pre + binds + stmts, nodes.name(result)
        return pre + binds + stmts + [nodes.assign(result, final.value, final)], nodes.name(result)


UNUSED = object()   # the value bound to a parameter that is None and never read: no binding


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None


def _never_read_as_given(tree, name, read) -> bool:
    """Whether the helper never reads its parameter `name` as the call gave it: it never reads
    it, or the first top-level statement naming it assigns it without reading it."""
    if name not in read:
        return True
    for stmt in tree.body:
        named = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)}
        if name in named:
            return isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == name \
                and name not in {n.id for n in trees.walk(stmt.value) if isinstance(n, gast.Name)}
    return True


def _none_test(test, nones, given):
    """The truth of `p`, `not p`, `p is None` or `p is not None` where p is a parameter bound
    to None (`nones`), of `p is None` and `p is not None` where the call gives p a value
    (`given`: the helper never rebinds either), else None."""
    if isinstance(test, gast.Name) and test.id in nones:
        return False
    if isinstance(test, gast.UnaryOp) and isinstance(test.op, gast.Not):
        inner = _none_test(test.operand, nones, given)
        return None if inner is None else not inner
    if isinstance(test, gast.Compare) and len(test.ops) == 1 and isinstance(test.left, gast.Name) \
            and test.left.id in nones | given and _is_none(test.comparators[0]) \
            and isinstance(test.ops[0], (gast.Is, gast.IsNot)):
        return isinstance(test.ops[0], gast.Is) == (test.left.id in nones)
    return None


def _without_none_branches(tree, nones, given=frozenset()):
    """A copy of the helper's tree with each `if` on a parameter bound to None replaced by the
    branch taken (the plotting a numeric helper does when given an axis, say), and each `if`
    on `p is None` of a parameter the call gives a value; only up to where the helper first
    assigns the parameter (`if w is None: w = np.ones(n)` is decided, a test after it is not)."""
    nones, given = set(nones), set(given)

    def forget(stmt):
        for n in trees.walk(stmt):
            if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del)):
                nones.discard(n.id)
                given.discard(n.id)

    def block(stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, gast.If):
                taken = _none_test(stmt.test, nones, given)
                if taken is not None:
                    out += block(stmt.body if taken else stmt.orelse)
                    if out and isinstance(out[-1], gast.Return):
                        break
                    continue
            if isinstance(stmt, (gast.For, gast.While)):
                forget(stmt)                    # (a later iteration sees what the body assigns)
            for field in ("body", "orelse"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                    setattr(stmt, field, block(inner) or [nodes.pass_(stmt)])
            forget(stmt)
            out.append(stmt)
            if isinstance(stmt, gast.Return):
                break                           # (`if w is None: return x` taken: the rest never runs)
        return out
    tree = nodes.clone(tree)
    tree.body = block(tree.body) or [nodes.pass_(tree)]
    return tree


def _all_constant(aggregate) -> bool:
    """Whether every element of a sequence (nested ones included) is a constant: one array
    holds them, and a loop over them stays a loop."""
    return all(_all_constant(e) if isinstance(e, Aggregate) else isinstance(e, gast.Constant)
               for e in aggregate.elts)


def _changes_list(tree, parameter):
    """How a helper changes a list parameter in place: "method" (`v.append(e)`), "element"
    (`v[0] = e`), or None."""
    found = None
    for node in trees.walk(tree):
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
                and isinstance(node.func.value, gast.Name) and node.func.value.id == parameter \
                and node.func.attr in ("append", "insert", "extend", "pop", "remove", "clear"):
            return "method"
        if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Store) \
                and isinstance(node.value, gast.Name) and node.value.id == parameter:
            found = "element"
    return found
