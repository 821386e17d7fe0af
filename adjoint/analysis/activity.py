"""Which variables carry sensitivities, and which values the reverse sweep reads.

    t_1 = x * y          active: {x, t_1, t_2}        (wrt x; y is a constant input)
    n = len(y)           arrays: {y}
    t_2 = t_1 / n        reverse reads: {y, n}        (d(x*y)/dx = y; d(t_1/n)/dt_1 = 1/n)
    return t_2

A variable is *active* when it depends on a `wrt` input (varied) through differentiable
operations and the result depends on it (useful). The analysis is flow-insensitive: one answer
per name, valid everywhere, which is conservative and what loops need.
"""

from __future__ import annotations

import contextlib
import dataclasses

import gast

from ..errors import AdjointError, AdjointTypeError, locate
from ..ir import annotations, nodes
from ..ir.grammar import is_accumulation, is_linear_chain, linear_terms, primitive_of
from ..primitives import rules
from . import shapes


@dataclasses.dataclass
class Analysis:
    wrt: tuple                    # names of the arguments differentiated against
    active: set                   # names that get a sensitivity s_*
    arrays: set                   # names holding arrays (their sensitivity is an array)
    reverse_reads: set            # names whose forward values the reverse sweep reads
    assigned_once: set            # names assigned exactly once, outside loops
    result: gast.AST              # the returned atom
    types: dict                   # name -> shapes.Type
    kinds: dict                   # name -> "float" | "int" | "bool" (element kinds, for tapes)


def analyze(tree: gast.FunctionDef, wrt, signature=None, filename="<adjoint>") -> Analysis:
    args = [a.id for a in tree.args.args]
    if signature is None or not set(args) <= set(signature):
        guessed = shapes.default_signature(tree, wrt)           # a partial one is completed
    else:
        guessed = dict.fromkeys(args)                           # a complete one: nothing to guess
    signature = {**guessed, **(signature or {})}                # (the arguments' order first)
    types = shapes.infer(tree, signature, filename)
    statements = list(_assignments(tree.body, in_loop=False))
    flows = _flows(statements, types)
    varied = _reached(set(wrt), [(operands, targets) for targets, operands in flows])
    final = tree.body[-1]
    result = final.value
    useful = _reached(nodes.loads_in(result), flows)
    active = {n for n in varied & useful if types.get(n, shapes.FLOAT).kind == "float"}
    arrays = {n for n, t in types.items() if t.is_array}
    reads = _reverse_reads(tree, active, types, statements, arrays, filename)
    counts: dict = {}
    for (stmt, in_loop), (targets, _) in zip(statements, flows):
        for target in targets:
            counts[target] = counts.get(target, 0) + (2 if in_loop else 1)
    once = {name for name, count in counts.items() if count == 1} - set(args)
    kinds = {n: t.kind for n, t in types.items() if t.kind != "shape"}
    return Analysis(wrt=tuple(wrt), active=active, arrays=arrays, reverse_reads=reads,
                    assigned_once=once, result=result, types=types, kinds=kinds)


def _assignments(body, in_loop):
    for stmt in body:
        if isinstance(stmt, gast.Assign):
            yield stmt, in_loop
        elif isinstance(stmt, gast.If):
            yield from _assignments(stmt.body, in_loop)
            yield from _assignments(stmt.orelse, in_loop)
        elif isinstance(stmt, (gast.For, gast.While)):
            if isinstance(stmt, gast.For):
                yield stmt, True
            yield from _assignments(stmt.body, True)


def _targets(stmt):
    if isinstance(stmt, gast.For):
        return [stmt.target.id]
    target = stmt.targets[0]
    if isinstance(target, gast.Tuple):
        return [e.id for e in target.elts]
    if isinstance(target, gast.Subscript):
        return [target.value.id]
    return [target.id]


def differentiable_operands(stmt, types=None, flowing=None):
    """The names whose sensitivity an assignment feeds (empty for integer-valued operations).
    `flowing`: a dict of primitive -> whether a sensitivity flows through it, filled as the
    primitives are met (one lookup per primitive, not per statement)."""
    if type(stmt) is gast.For:
        return set()
    value = stmt.value
    kind = type(value)
    if kind is gast.Name:
        return {value.id}
    if kind is gast.Subscript:
        return {value.value.id} if type(value.value) is gast.Name else set()
    if kind is gast.Attribute or kind is gast.Constant:
        return set()
    primitive = primitive_of(value)
    flows = None if flowing is None else flowing.get(primitive)
    if flows is None:
        flows = primitive is not None and not rules.is_non_differentiable(primitive) \
            and rules.is_differentiable(primitive)
        if flowing is not None:
            with contextlib.suppress(TypeError):       # an unhashable callee: asked again
                flowing[primitive] = flows
    if not flows:
        return set()
    return _loads(value) - _MODULES


_MODULES = frozenset(("math", "np"))


def _flows(statements, types):
    """(targets, differentiable operands) of each assignment (and loop head) in `statements`."""
    flowing = {}
    return [(_targets(stmt), differentiable_operands(stmt, types, flowing)) for stmt, _ in statements]


def _loads(node) -> set:
    """nodes.loads_in(node), the commonest normalized right sides (an operation on atoms)
    read directly."""
    kind = type(node)
    if kind is gast.BinOp:
        left, right = node.left, node.right
        if type(left) in _ATOMS and type(right) in _ATOMS:
            return _atom_loads(left) | _atom_loads(right)
    elif kind is gast.UnaryOp:
        if type(node.operand) in _ATOMS:
            return _atom_loads(node.operand)
    elif kind in _ATOMS:
        return _atom_loads(node)
    return nodes.loads_in(node)


_ATOMS = frozenset((gast.Name, gast.Constant))


def _atom_loads(atom) -> set:
    """nodes.loads_in of a Name or a Constant."""
    if type(atom) is gast.Constant:
        return set()
    if atom.annotation is not None:
        return nodes.loads_in(atom)
    return {atom.id} if type(atom.ctx) is gast.Load else set()


def _reached(seed, flows) -> set:
    """The names `seed` reaches through `flows`, (sources, destinations) pairs: a pair whose
    sources hold a reached name reaches all its destinations (the activity fixpoint, solved by
    a search over the destinations each name is a source of: each name is followed once)."""
    by_source: dict = {}
    for sources, destinations in flows:
        if destinations:
            for source in sources:
                found = by_source.get(source)
                if found is None:
                    by_source[source] = [destinations]
                else:
                    found.append(destinations)
    reached, todo = set(seed), list(seed)
    while todo:
        for destinations in by_source.get(todo.pop(), ()):
            for name in destinations:
                if name not in reached:
                    reached.add(name)
                    todo.append(name)
    return reached


def _reverse_reads(tree, active, types, statements, arrays, filename) -> set:
    """Names the reverse sweep evaluates: partials of active statements, indices, control flow.
    `statements`: _assignments(tree.body) (each assignment, and whether it sits in a loop)."""
    reads = set()
    rules_known = {}                                    # (primitive, ranks, parts) -> rule kind

    def statement_reads(node, in_loop):
        try:
            return _statement_reads(node, active, types, in_loop, arrays, rules_known)
        except AdjointError as exc:                     # a rule's (derivative): placed here
            raise exc.at(locate(node, filename)) from None
    if not any(type(stmt) in _COMPOUND for stmt in tree.body):
        for node, in_loop in statements:                # straight code: its assignments, in order
            reads |= statement_reads(node, in_loop)
        return reads - _MODULES
    loads = _StatementLoads()
    looped = set()                                      # statements inside a loop
    for node in nodes.statements(tree.body):
        if isinstance(node, (gast.For, gast.While)):
            reads.update(*map(loads, node.body))        # the replay reads them
            looped.update(id(s) for s in nodes.statements(node.body))
        if isinstance(node, (gast.If, gast.While)):
            reads |= nodes.loads_in(node.test)
        elif isinstance(node, gast.For):
            reads |= {n for a in node.iter.args for n in nodes.loads_in(a)}
        elif isinstance(node, gast.Assign):
            reads |= statement_reads(node, id(node) in looped)
    return reads - _MODULES


_COMPOUND = frozenset((gast.If, gast.For, gast.While))


class _StatementLoads:
    """nodes.loads_in of statements, each block's statements counted once however deeply
    the loops holding it nest (a compound statement's loads are its head's and its blocks')."""

    def __init__(self):
        self.known = {}

    def __call__(self, stmt):
        found = self.known.get(id(stmt))
        if found is None:
            if not isinstance(stmt, (gast.If, gast.For, gast.While)):
                found = nodes.loads_in(stmt)
            else:
                found = set()
                for field in stmt._fields:
                    value = getattr(stmt, field, None)
                    if field in ("body", "orelse"):
                        found.update(*map(self, value))
                    elif isinstance(value, gast.AST):
                        found |= nodes.loads_in(value)
            self.known[id(stmt)] = found
        return found


def _statement_reads(stmt, active, types, in_loop=False, arrays=None, rules_known=None):
    """The names the reverse of one assignment reads. `arrays`: the names typed as arrays
    (found from `types` where not given); `rules_known` as in derivative()."""
    if arrays is None:
        arrays = {n for n, t in types.items() if t.is_array}
    target, value = stmt.targets[0], stmt.value
    target_kind = type(target)
    if target_kind is gast.Subscript:
        if target.value.id not in active:
            return set()
        return nodes.loads_in(target.slice) | _shape_reads(None, [value], active, arrays)
    if target_kind is gast.Tuple or target.id not in active:
        return set()
    value_kind = type(value)
    linear = is_linear_chain(value)
    atoms = [value] if value_kind is gast.Name else \
        [atom for _, atom in linear_terms(value)] if linear else _operands(value)
    # `S = S + x` keeps s_S; at the top level it is summed back to the restored S's shape
    # (reverse.summed_back), in a loop not (that would put S on a checkpoint tape)
    kept = in_loop and is_accumulation(target.id, value)
    shaped = _shape_reads(None if kept else target.id, atoms, active, arrays) if arrays else set()
    if value_kind is gast.Subscript:
        return nodes.loads_in(value.slice) | shaped
    if linear or value_kind in _PLAIN:
        return shaped
    return _rule_reads(value, target, active, types, atoms, rules_known) | shaped


_PLAIN = frozenset((gast.Name, gast.Constant, gast.Attribute))


def _shape_reads(target, atoms, active, arrays) -> set:
    """The arrays whose shape the reverse of an assignment reads: its target's (the
    sensitivity is reset to zeros of the value it had before), and its active array
    operands' (a broadcast contribution is summed back to their shape). They are reverse
    reads like any other, so a name rebound later is restored to the value it had here: a
    rebinding to another shape of the same rank (`b = b1 ... b = b2`) must not send b1's
    sensitivity to b2's shape. `arrays`: the names typed as arrays."""
    found = {target} if target is not None and target in arrays else set()
    return found | {a.id for a in atoms if type(a) is gast.Name and a.id in active and a.id in arrays}


def _rule_reads(value, target, active, types, args=None, rules_known=None) -> set:
    primitive = primitive_of(value)
    if args is None:
        args = _operands(value)
    arg_types = _types_of(args, types)
    ranks = _ranks(args, types, arg_types)
    if _kind_of_rule(primitive, args, ranks, rules_known) == "elementwise":   # read off the rule's templates
        wanted = [_is_active_name(a, active) for a in args]
        return rules.lookup(primitive).loaded(args, target.id, _elementwise(args, types, arg_types), wanted) \
            - {"g"} if any(wanted) else set()
    loads = [(operand, None if c is None else nodes.loads_in(c))
             for operand, c, _ in derivative(primitive, args, target.id, "g", types, active, rules_known)]
    reads = set()
    for operand, names in loads:
        if names is not None and _is_active_name(operand, active):
            reads |= names
    reads.discard("g")
    return reads


def derivative(primitive, args, out, g, types, active=None, rules_known=None, partials_first=False):
    """[(operand, expression, how), ...] for a call of `primitive` on `args`.

    Elementwise primitives give partials (how=True: multiply by g, sum back to the operand's
    shape); array primitives their vector-Jacobian product contributions (how=False, or
    "broadcast" when they still need summing back); sequence primitives one per part.
    With `active` (a set of names), the expression of an operand that is no active name is
    None: no sensitivity flows there, so it is not built. `rules_known`: a dict that keeps
    which rule applies to a primitive and ranks, for a caller asking of many statements.
    `partials_first`: a primitive with partials gives them even where a vjp of its record
    matches the ranks (forward mode: np.maximum's vjp of arrays is reverse mode's form of the
    same partials)."""
    arg_types = _types_of(args, types)
    ranks = _ranks(args, types, arg_types)
    wanted = None if active is None else [_is_active_name(a, active) for a in args]
    kind_of_rule = "elementwise" if partials_first and rules.lookup(primitive) is not None \
        else _kind_of_rule(primitive, args, ranks, rules_known)
    if kind_of_rule == "array":
        array_rule = rules.lookup_array(primitive, ranks)
        g_node = nodes.name(g) if isinstance(g, str) else g
        kind = "broadcast" if array_rule.broadcasts else False
        contributions = array_rule.instantiate(args, out, g_node, wanted)
        for c in contributions:
            if c is not None and array_rule.exact_shape:
                annotations.set(c, "exact_shape", True)           # optimize may assign it instead of adding
            if c is not None and array_rule.broadcast_view:
                annotations.set(c, "broadcast_view", True)        # ... where the sensitivity is only read elementwise
        return [(a, c, kind) for a, c in zip(args, contributions)]
    if kind_of_rule == "parts":
        parts_rule = rules.lookup_parts(primitive)
        g_node = nodes.name(g) if isinstance(g, str) else g
        by_rank = callable(parts_rule.takes_axis)      # np.vstack: the parts' ranks decide
        axis = 0 if by_rank or not parts_rule.takes_axis else \
            _joined_axis(primitive, args, types, parts_rule.new_axis)
        pairs, offset = [], nodes.const(0)
        for k, part in enumerate(args[0].elts):
            wanted_part = active is None or _is_active_name(part, active)
            gains = False
            if by_rank:
                axis, gains = parts_rule.joined(shapes.type_of(part, types).ndim)
            size = nodes.const(1) if gains else _part_size(part, axis, types)
            contribution = None if not wanted_part else \
                parts_rule.instantiate_gained(part, offset, g_node, axis) if gains else \
                parts_rule.instantiate(part, nodes.const(k), offset, size, g_node, axis)
            pairs.append((part, contribution, False))
            offset = nodes.binop(offset, "+", size)
        return pairs
    if kind_of_rule is None:
        if rules.is_differentiable(primitive):
            name = getattr(primitive, "__name__", repr(primitive))
            raise AdjointError(f"no derivative rule for {name} with arguments of rank "
                               f"{', '.join(map(str, ranks))}",
                               hint="register one with @adjoint.vjp_rule, or reshape the arguments")
        return []
    partials = rules.lookup(primitive).instantiate(args, out, _elementwise(args, types, arg_types), wanted)
    return [(a, p, True) for a, p in zip(args, partials)]


def _joined_axis(primitive, args, types, new_axis) -> int:
    """The axis a sequence primitive joins its parts on (np.stack(parts, axis=-1)), from 0 up:
    a number written in the call, or 0."""
    if len(args) < 2:
        return 0
    axis, name = args[1], getattr(primitive, "__name__", repr(primitive))
    if isinstance(axis, gast.Constant) and axis.value is None:
        raise AdjointError(f"np.{name} with axis=None (the parts flattened first) is not supported",
                           hint=f"join the flattened parts: np.{name}((a.ravel(), b.ravel()))")
    if not (isinstance(axis, gast.Constant) and type(axis.value) is int):
        raise AdjointError(f"np.{name} along an axis that is not a number written in the call",
                           hint="write the axis as a number (axis=1), or join the parts on axis 0")
    rank = shapes.type_of(args[0].elts[0], types).ndim + bool(new_axis)
    if not -rank <= axis.value < rank:                      # (numpy's AxisError; or ranks guessed)
        raise AdjointTypeError(f"np.{name} along axis {axis.value} of a result of rank {rank}",
                               hint=f"join on an axis from {-rank} to {rank - 1}")
    return axis.value % rank


def _part_size(part, axis, types):
    """How far a part reaches along the joined axis: its length there (`A.shape[1]`), 1 for a
    number."""
    if isinstance(part, gast.Name) and shapes.type_of(part, types).is_array:
        return nodes.subscript(nodes.attribute(f"{part.id}.shape"), axis)
    if isinstance(part, gast.Constant) or not shapes.type_of(part, types).is_array:
        return nodes.const(1)
    raise AdjointError("a part of a joined sequence that is neither a name nor a number",
                       hint="assign the part to a name first")


def _kind_of_rule(primitive, args, ranks, known=None):
    """Which rule derivative() applies: "array" (a vjp for these ranks), "parts" (a sequence
    argument's), "elementwise" (partials), or None (no rule). `known`: a dict of the answers
    found so far (the rule tables do not change while one function is transformed)."""
    sequence = bool(args) and type(args[0]) in _SEQUENCES
    if known is not None:
        key = (primitive, tuple(ranks), sequence)
        try:
            found = known.get(key, _UNKNOWN)
        except TypeError:                      # an unhashable callee: looked up each time
            return _kind_of_rule(primitive, args, ranks)
        if found is _UNKNOWN:
            found = known[key] = _kind_of_rule(primitive, args, ranks)
        return found
    if rules.lookup_array(primitive, ranks) is not None:
        return "array"
    if sequence and rules.lookup_parts(primitive) is not None:
        return "parts"
    return "elementwise" if rules.lookup(primitive) is not None else None


_SEQUENCES = frozenset((gast.Tuple, gast.List))
_UNKNOWN = object()


def _ranks(args, types, arg_types=None):
    """The operands' ranks (0 for a sequence); `arg_types`: _types_of(args, types) if known."""
    return [0 if t is None else t.ndim for t in arg_types or _types_of(args, types)]


def _elementwise(args, types, arg_types=None):
    """Whether partials apply elementwise: an operand is an array."""
    return any(t is not None and t.is_array for t in arg_types or _types_of(args, types))


def _types_of(args, types) -> list:
    """The operands' shapes.type_of (a name's read directly: most are names), None for a
    sequence (a tuple or list of parts)."""
    found = []
    for atom in args:
        kind = type(atom)
        found.append(types.get(atom.id, shapes.FLOAT) if kind is gast.Name else
                     None if kind in _SEQUENCES else shapes.type_of(atom, types))
    return found


def _is_active_name(atom, active):
    return isinstance(atom, gast.Name) and atom.id in active


def _operands(value):
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    if isinstance(value, gast.Call):
        return list(value.args) + [k.value for k in value.keywords if k.arg != "dtype"]
    return []


operands = _operands


# dataflow over structured code -------------------------------------------------------------

def assigned(stmts) -> set:
    """Every name some statement in `stmts` assigns (loop variables included): a search
    like nodes.load_counts' (the reverse sweep asks it of every statement)."""
    names = set()
    todo = list(stmts)
    pop, push, extend = todo.pop, todo.append, todo.extend
    name_kind, store, child_fields = gast.Name, gast.Store, nodes.child_fields
    while todo:
        node = pop()
        kind = type(node)
        if kind is name_kind:
            if type(node.ctx) is store:
                names.add(node.id)
            if node.annotation is None:
                continue
        for field in child_fields(kind):
            value = getattr(node, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return names


def exposed_reads(stmts, defined=frozenset()) -> set:
    """Names `stmts` may read before assigning them (upward-exposed uses)."""
    exposed, _ = _exposed(stmts, set(defined))
    return exposed


def _exposed(stmts, defined, guarded=None):
    """(exposed reads, definitely assigned names). `guarded` maps a condition variable to the
    names assigned under `if cond:` while cond kept its value, so that a later read under
    the same unchanged condition counts as defined (the loop flags `if t_live:` need this)."""
    guarded = dict(guarded or {})
    exposed = set()
    for stmt in stmts:
        if isinstance(stmt, gast.If):
            exposed |= nodes.loads_in(stmt.test) - defined
            cond = stmt.test.id if isinstance(stmt.test, gast.Name) else None
            inner = defined | guarded.get(cond, set())
            inner_else = defined | guarded.get(("not", cond), set())
            e1, d1 = _exposed(stmt.body, set(inner), guarded)
            e2, d2 = _exposed(stmt.orelse, set(inner_else), guarded)
            exposed |= e1 | e2
            changed = assigned([stmt])
            guarded = {c: names for c, names in guarded.items()
                       if (c[1] if isinstance(c, tuple) else c) not in changed}
            if cond is not None and cond not in changed:
                guarded[cond] = guarded.get(cond, set()) | d1
                guarded[("not", cond)] = guarded.get(("not", cond), set()) | d2
            defined |= d1 & d2          # (each call owns its `defined`: updated in place)
        elif isinstance(stmt, (gast.For, gast.While)):
            head = nodes.loads_in(stmt.iter) if isinstance(stmt, gast.For) else nodes.loads_in(stmt.test)
            exposed |= head - defined
            inner = defined | ({stmt.target.id} if isinstance(stmt, gast.For) else set())
            e, _ = _exposed(stmt.body, inner)
            exposed |= e
            changed = assigned([stmt])
            guarded = {c: names for c, names in guarded.items()
                       if (c[1] if isinstance(c, tuple) else c) not in changed}
        elif isinstance(stmt, (gast.Assign, gast.AugAssign)):
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
            reads = nodes.loads_in(stmt.value)
            if isinstance(target, gast.Subscript) or isinstance(stmt, gast.AugAssign):
                reads |= nodes.loads_in(target) | ({target.id} if isinstance(target, gast.Name) else set())
            exposed |= reads - defined
            if type(target) is gast.Name:
                written = {target.id} if isinstance(target.ctx, gast.Store) else set()
            else:
                written = {n.id for n in nodes.walk(target)
                           if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
            defined |= written        # (in place: a new set per statement was quadratic)
            if guarded:
                guarded = {c: names for c, names in guarded.items()
                           if (c[1] if isinstance(c, tuple) else c) not in written}
        else:
            exposed |= nodes.loads_in(stmt) - defined
    return exposed - {"math", "np"}, defined


__all__ = ["Analysis", "analyze", "differentiable_operands", "operands", "linear_terms",
           "assigned", "exposed_reads"]
