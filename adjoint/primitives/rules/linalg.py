"""The linear-algebra records of the primitive table: the products (np.dot, np.matmul and @,
np.vdot, np.outer, np.cross, np.kron), np.trace, np.einsum and the np.linalg functions (norm,
solve, inv, det, slogdet, cholesky), in the conventions of the package (rules/__init__.py):
one record per primitive, declared from its vector-Jacobian products (`g`: the output's sensitivity; `out`: the
result) and Jacobian-vector products (`d<arg>`: the arguments' tangents), each a plain,
runnable numpy function of one `return`.

The matrix functions follow the textbook adjoints (Giles, "An extended collection of matrix
derivative results", 2008): with X = solve(A, B), the sensitivity of B is solve(A.T, g) and
that of A is -solve(A.T, g) X.T; inv, det and slogdet go through inv(A).T. numba compiles
every np.linalg call used here (LAPACK through scipy), so the rules are emitted as written.

Two results are not the plain array numpy returns:

- `np.linalg.slogdet(A)` is a pair (sign, log|det A|). Its result is typed as a float vector
  of two, `[sign, logdet]`, and lower/for_numba.py makes it one (`np.array(...)`), so that
  `sign, logdet = np.linalg.slogdet(A)` and `np.linalg.slogdet(A)[1]` are an unpacking and
  an element read like any other, and the sensitivity of the pair is an array: `g[1]` is the
  log-determinant's (the sign is piecewise constant).
- `np.linalg.cholesky(A)` reads only A's lower triangle (numpy's and numba's LAPACK call
  both), so the derivative is that of the lower triangle: the strict upper triangle of A has
  none, and an entry below the diagonal carries both its own and its mirror's share. (autograd
  and JAX return the symmetrized gradient instead; the two agree on any A built symmetric,
  which is how programs call cholesky.)

np.einsum (explicit or implicit subscripts, one or more operands, no `...`) has rules of its
own kind, built per call from its subscripts: the vjp along an operand is an einsum of the
other operands and `g` back to that operand's subscripts (with a vector of ones for an index
only that operand has, and an identity matrix for an index it repeats, as in a trace), and
the jvp is the sum of the einsums with one operand replaced by its tangent. numba has no
einsum: lower/for_numba.py calls a loop helper written per subscripts (`einsum_source`).
"""

from __future__ import annotations

import dataclasses

import gast
import numpy as np

from ...errors import AdjointError
from ...ir import nodes
from .. import registry, table
from ..registry import declare, variant

# --- products -------------------------------------------------------------------------------

def dot_vv(a, b, g):
    return g * b, g * a


def dot_mv(a, b, g):
    return np.outer(g, b), a.T @ g


def dot_vm(a, b, g):
    return b @ g, np.outer(a, g)


def dot_mm(a, b, g):
    return g @ b.T, a.T @ g


def product_jvp(a, b, da, db):
    return da @ b, a @ db


# for the ranks adjoint supports (1 and 2), np.dot, np.matmul and @ are one product
declare("np.dot", "np.matmul", "operator.matmul",
        vjps=[variant(dot_vv, ranks=(1, 1)), variant(dot_mv, ranks=(2, 1), exact_shape=True),
              variant(dot_vm, ranks=(1, 2), exact_shape=True), variant(dot_mm, ranks=(2, 2), exact_shape=True)],
        jvps=[product_jvp], result="matmul", value=True, costly=True)


def outer(a, b, g):
    return g @ b, a @ g


def outer_jvp(a, b, da, db):
    return np.outer(da, b), np.outer(a, db)


# np.vdot: the dot product of the two arrays flattened (of equal sizes), a number
def vdot_jvp(a, b, da, db):
    return np.vdot(da, b), np.vdot(a, db)


declare("np.vdot", vjps=[dot_vv], jvps=[vdot_jvp], result="scalar", value=True)


# of vectors only (numpy flattens other ranks; the result rule says to ravel them first)
declare("np.outer", vjps=[variant(outer, ranks=(1, 1))], jvps=[outer_jvp], result="outer", value=True)


# np.cross of 3-vectors, or of the rows of (n, 3) matrices (broadcast against each other):
# <g, a x b> = <b x g, a> = <g x a, b>
def cross(a, b, g):
    return np.cross(b, g), np.cross(g, a)


def cross_jvp(a, b, da, db):
    return np.cross(da, b), np.cross(a, db)


declare("np.cross", vjps=[variant(cross, broadcasts=True)], jvps=[cross_jvp], result="cross", value=True)


# np.kron: out[i*p + k, j*q + l] = a[i, j] * b[k, l], so g seen as (m, p, n, q) contracts with
# b for a and with a for b (vectors: g as (m, p))
def kron_vectors(a, b, g):
    return (np.einsum("ik,k->i", np.reshape(np.ascontiguousarray(g), (a.shape[0], b.shape[0])), b),
            np.einsum("ik,i->k", np.reshape(np.ascontiguousarray(g), (a.shape[0], b.shape[0])), a))


def kron_matrices(a, b, g):
    return (np.einsum("ikjl,kl->ij", np.reshape(np.ascontiguousarray(g),
                                                (a.shape[0], b.shape[0], a.shape[1], b.shape[1])), b),
            np.einsum("ikjl,ij->kl", np.reshape(np.ascontiguousarray(g),
                                                (a.shape[0], b.shape[0], a.shape[1], b.shape[1])), a))


def kron_jvp(a, b, da, db):
    return np.kron(da, b), np.kron(a, db)


declare("np.kron", vjps=[variant(kron_vectors, ranks=(1, 1), exact_shape=True),
                         variant(kron_matrices, ranks=(2, 2), exact_shape=True)],
        jvps=[kron_jvp], result="kron", value=True, costly=True)


def trace(x, g):
    return g * np.eye(x.shape[0], x.shape[1])


def trace_jvp(x, dx):
    return np.trace(dx)


# the sum of a diagonal above (offset > 0) or below the main one
def trace_offset(x, offset, g):
    return g * np.eye(x.shape[0], x.shape[1], offset), None


def trace_offset_jvp(x, offset, dx, doffset):
    return np.trace(dx, offset), None


declare("np.trace", vjps=[variant(trace, exact_shape=True), variant(trace_offset, exact_shape=True)],
        jvps=[trace_jvp, trace_offset_jvp], result="scalar", value=True)


# --- np.linalg --------------------------------------------------------------------------------

# at x = 0 the norm has a kink: 0, the subgradient of least norm (as abs'(0) = 0), where
# x / out would be nan
def norm(x, g, out):
    return g * x / (out + (out == 0.0))


def norm_jvp(x, dx, out):
    return np.sum(x * dx) / (out + (out == 0.0))


# along an axis (the vector norms of a matrix's rows or columns): out has one axis fewer
def norm_axis_of_vector(x, axis, g, out):
    return g * x / (out + (out == 0.0)), None


def norm_axis(x, axis, g, out):
    return np.expand_dims(g / (out + (out == 0.0)), axis) * x, None


def norm_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(x * dx, axis) / (out + (out == 0.0)), None


# the p-norm, np.linalg.norm(x, ord, axis) (normalize writes ord=None and 'fro' as the plain
# norm, and an ord not written as a finite number with keepdims=False fourth): of a vector, or of a
# matrix's lines along the axis, |x_i|^(p-1) sign(x_i) / out^(p-1), which for p = 1 is sign(x)
# (0^0 = 1); for p = inf (-inf) the elements of the largest (least) magnitude share the sensitivity,
# written as a selection where the ord may be infinite (the power's own derivative there would be
# inf * 0, forward over reverse); analysis/shapes rejects a matrix norm (a matrix with an ord and
# no axis)
def norm_ord(x, ord, axis, g, out):
    return g * np.sign(x) * (np.abs(x) / out) ** (ord - 1.0), None, None


def norm_ord_axis(x, ord, axis, g, out):
    return np.expand_dims(g, axis) * np.sign(x) * (np.abs(x) / np.expand_dims(out, axis)) ** (ord - 1.0), None, None


def norm_ord_jvp(x, ord, axis, dx, dord, daxis, out):
    return np.sum(np.sign(x) * (np.abs(x) / out) ** (ord - 1.0) * dx), None, None


def norm_ord_axis_jvp(x, ord, axis, dx, dord, daxis, out):
    return np.sum(np.sign(x) * (np.abs(x) / np.expand_dims(out, axis)) ** (ord - 1.0) * dx, axis), None, None


@registry.shared_expression
def p_norm_weights(x, ord, norm):
    return np.where(np.isinf(ord), np.divide(np.abs(x) == norm, np.sum(np.abs(x) == norm)),
                    (np.abs(x) / norm) ** (ord - 1.0))


@registry.shared_expression
def p_norm_line_weights(x, ord, norm, axis):    # norm with the axis put back
    return np.where(np.isinf(ord), np.divide(np.abs(x) == norm, np.expand_dims(np.sum(np.abs(x) == norm, axis), axis)),
                    (np.abs(x) / norm) ** (ord - 1.0))


def norm_any_ord(x, ord, axis, keepdims, g, out):
    return g * np.sign(x) * p_norm_weights(x, ord, out), None, None, None


def norm_any_ord_axis(x, ord, axis, keepdims, g, out):
    return np.expand_dims(g, axis) * np.sign(x) * p_norm_line_weights(x, ord, np.expand_dims(out, axis), axis), \
        None, None, None


def norm_any_ord_jvp(x, ord, axis, keepdims, dx, dord, daxis, dkeepdims, out):
    return np.sum(np.sign(x) * p_norm_weights(x, ord, out) * dx), None, None, None


def norm_any_ord_axis_jvp(x, ord, axis, keepdims, dx, dord, daxis, dkeepdims, out):
    return np.sum(np.sign(x) * p_norm_line_weights(x, ord, np.expand_dims(out, axis), axis) * dx, axis), \
        None, None, None


declare("np.linalg.norm", vjps=[norm, variant(norm_axis_of_vector, ranks=(1,)), norm_axis,
                                variant(norm_ord_axis, ranks=(2,)), norm_ord, variant(norm_any_ord_axis, ranks=(2,)),
                                norm_any_ord],
        jvps=[norm_jvp, norm_axis_jvp, variant(norm_ord_axis_jvp, ranks=(2,)), norm_ord_jvp,
              variant(norm_any_ord_axis_jvp, ranks=(2,)), norm_any_ord_jvp],
        result="norm")


# x = solve(a, b): b's sensitivity is solve(a.T, g), a's is minus that times x.T (written as
# one solve of g x.T: the same LU work as the outer product of the solution)
# solve(A.T, g), a vector (or B's columns), shared by both contributions (the reverse sweep
# makes it once: transforms/reverse.py shared_calls); solving against the matrix g out.T
# instead took n more substitutions. A.T is copied into rows (C order, O(n^2)), and so is a
# matrix g (numba's solve returns X in Fortran order, and g = cos(X) is then one too): numba
# reuses the forward solve's compiled code instead of compiling one for another layout
# (0.8 s a vector; 2.5-4 s a matrix right-hand side, in a fresh process).
def solve_vector(a, b, g, out):
    return -np.outer(np.linalg.solve(a.T.copy(), g), out), np.linalg.solve(a.T.copy(), g)


def solve_matrix(a, b, g, out):
    return -(np.linalg.solve(a.T.copy(), g.copy()) @ out.T), np.linalg.solve(a.T.copy(), g.copy())


def solve_jvp(a, b, da, db, out):
    return -np.linalg.solve(a, da @ out), np.linalg.solve(a, db)


declare("np.linalg.solve", vjps=[variant(solve_vector, ranks=(2, 1), exact_shape=True),
                                 variant(solve_matrix, ranks=(2, 2), exact_shape=True)],
        jvps=[solve_jvp], result="solve", value=True, costly=True)


def inv(a, g, out):
    return -(out.T @ g @ out.T)


def inv_jvp(a, da, out):
    return -(out @ da @ out)


declare("np.linalg.inv", vjps=[variant(inv, ranks=(2,), exact_shape=True)], jvps=[inv_jvp], result="square",
        value=True, costly=True)


# d det(a) = det(a) tr(a^-1 da)
def det(a, g, out):
    return g * out * np.linalg.inv(a).T


def det_jvp(a, da, out):
    return out * np.trace(np.linalg.solve(a, da))


declare("np.linalg.det", vjps=[variant(det, ranks=(2,), exact_shape=True)], jvps=[det_jvp], result="determinant",
        costly=True)


# the pair [sign, log|det a|]: only the log-determinant varies, d log|det a| = tr(a^-1 da)
def slogdet(a, g):
    return g[1] * np.linalg.inv(a).T


def slogdet_jvp(a, da):
    return np.array([0.0, np.trace(np.linalg.solve(a, da))])


declare("np.linalg.slogdet", vjps=[variant(slogdet, ranks=(2,), exact_shape=True)], jvps=[slogdet_jvp],
        result="slogdet", value=True, costly=True)


# L = cholesky(a), of the lower triangle of a (mirrored into the symmetric S it spells). With
# Phi the lower triangle with its diagonal halved, dL = L Phi(L^-1 dS L^-T), so with C = L^T g,
# <g, dL> = <L^-T Phi(C) L^-1, dS>. An entry below a's diagonal moves S there and at its
# mirror, a diagonal entry once: a's sensitivity is Phi(W) for the symmetric
# W = L^-T (Phi(C) + Phi(C)^T) L^-1, and Phi(C) + Phi(C)^T = tril(C) + tril(C, -1).T.
def cholesky(a, g, out):
    return np.tril(np.linalg.solve(out.T, np.linalg.solve(
        out.T, np.tril(out.T @ g) + np.tril(out.T @ g, -1).T).T)) / (1.0 + np.eye(a.shape[0]))


def cholesky_jvp(a, da, out):
    return out @ (np.tril(np.linalg.solve(out, np.linalg.solve(out, np.tril(da) + np.tril(da, -1).T).T))
                  / (1.0 + np.eye(a.shape[0])))


declare("np.linalg.cholesky", vjps=[variant(cholesky, ranks=(2,), exact_shape=True)], jvps=[cholesky_jvp],
        result="square", value=True, costly=True)


# --- np.einsum --------------------------------------------------------------------------------

OPERANDS = ("a", "b", "c", "d")          # the parameter names of the operands, at most four


def einsum_subscripts(subscripts, count):
    """(inputs, output) of an einsum's subscripts for `count` operands, implicit ones made
    explicit (the letters met once, in alphabetical order, as numpy orders them); a ValueError
    says what is not supported (`...`, anything but letters, a count that does not match)."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError("np.einsum with `...` is not supported")
    left, arrow, output = spec.partition("->")
    inputs = left.split(",")
    if len(inputs) != count:
        raise ValueError(f"np.einsum subscripts {subscripts!r} name {len(inputs)} operands, "
                         f"the call passes {count}")
    letters = "".join(inputs)
    if not all(c.isalpha() and c.isascii() for c in letters + output):
        raise ValueError(f"np.einsum subscripts {subscripts!r}: only letters, commas and -> are supported")
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(output)) != len(output) or not set(output) <= set(letters):
        raise ValueError(f"np.einsum output subscripts {output!r}: each letter once, and from an operand")
    return inputs, output


def einsum_vjp_parts(subscripts, count, k):
    """The vjp along operand k as (subscripts, operands): an einsum of `g` (the output's
    sensitivity) and the other operands back to operand k's subscripts. An operand is "g",
    an int j (operand j), ("ones", axis) (a vector of ones as long as operand k's axis: a
    letter only operand k has, summed in the primal, is broadcast back) or ("eye", axis) (an
    identity as large as that axis: a letter operand k repeats, as the trace's `ii`, is on a
    diagonal)."""
    inputs, output = einsum_subscripts(subscripts, count)
    pieces = [(output, "g")] + [(s, j) for j, s in enumerate(inputs) if j != k]
    available = set(output).union(*(inputs[j] for j in range(count) if j != k))
    unused = iter(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") - set("".join(inputs))))
    target, first = "", {}
    for axis, letter in enumerate(inputs[k]):
        if letter not in first:
            first[letter] = axis
            target += letter
        else:                                    # a repeated letter: a diagonal
            fresh = next(unused)
            target += fresh
            pieces.append((letter + fresh, ("eye", first[letter])))
    repeated = {letter for letter in first if inputs[k].count(letter) > 1}
    for letter, axis in first.items():
        if letter not in available and letter not in repeated:
            pieces.append((letter, ("ones", axis)))
    return ",".join(s for s, _ in pieces) + "->" + target, [p for _, p in pieces]


def einsum_vjp_value(subscripts, k, operands, g):
    """The vjp along operand k, computed (for the table test and oracles)."""
    spec, parts = einsum_vjp_parts(subscripts, len(operands), k)
    shape = np.shape(operands[k])
    values = [g if p == "g" else operands[p] if isinstance(p, int)
              else (np.ones(shape[p[1]]) if p[0] == "ones" else np.eye(shape[p[1]])) for p in parts]
    return np.einsum(spec, *values)


def _einsum_node(spec, operands):
    return nodes.call("np.einsum", [nodes.const(spec)] + operands)


def _literal(subscripts):
    """The subscripts string of an einsum's first operand node (shapes.py has checked it)."""
    if not (isinstance(subscripts, gast.Constant) and isinstance(subscripts.value, str)):
        raise AdjointError("np.einsum needs its subscripts written as a string literal",
                           hint="write them in the call: np.einsum('ij,j->i', A, x)")
    return subscripts.value


@dataclasses.dataclass(frozen=True)
class EinsumVjp(registry.ArrayRule):
    """The vector-Jacobian product of np.einsum with `len(params) - 1` operands, built per
    call from its subscripts (einsum_vjp_parts), not from a template."""

    def instantiate(self, operands, out, g, wanted=None):
        subscripts, arrays = _literal(operands[0]), operands[1:]
        contributions = [None]
        for k, operand in enumerate(arrays):
            if wanted is not None and not wanted[k + 1]:
                contributions.append(None)
                continue
            spec, parts = einsum_vjp_parts(subscripts, len(arrays), k)
            contributions.append(_einsum_node(spec, [
                nodes.clone(g) if p == "g" else nodes.clone(arrays[p]) if isinstance(p, int)
                else nodes.call("np.ones" if p[0] == "ones" else "np.eye",
                                [nodes.subscript(nodes.attribute_of(nodes.clone(operand), "shape"), p[1])])
                for p in parts]))
        return contributions


@dataclasses.dataclass(frozen=True)
class EinsumJvp(registry.TangentRule):
    """The Jacobian-vector product of np.einsum: one einsum per operand, with that operand's
    tangent in its place (the product is linear in each operand)."""

    def instantiate(self, operands, tangents, out):
        subscripts, arrays = operands[0], operands[1:]
        _literal(subscripts)
        return [None] + [_einsum_node(subscripts.value, [nodes.clone(t if j == k else a)
                                                         for j, a in enumerate(arrays)])
                         for k, t in enumerate(tangents[1:])]


def _einsum_rules(count):
    """The vjp and jvp of np.einsum with `count` operands, as rule objects and as the plain
    functions the table test runs (keyword arguments: subscripts, a, b, ..., g or da, db, ...)."""
    params = ("subscripts",) + OPERANDS[:count]

    def vjp(subscripts, g, **operands):
        arrays = [operands[p] for p in params[1:]]
        return (None,) + tuple(einsum_vjp_value(subscripts, k, arrays, g) for k in range(count))

    def jvp(subscripts, dsubscripts, **operands):
        arrays = [operands[p] for p in params[1:]]
        return (None,) + tuple(np.einsum(subscripts, *(operands["d" + p] if j == k else a
                                                       for j, a in enumerate(arrays)))
                               for k, p in enumerate(params[1:]))
    function = np.einsum
    return (EinsumVjp(function, vjp, params, False, (None,) * len(params), None, exact_shape=True),
            EinsumJvp(function, jvp, params, False, (None,) * len(params)))


_EINSUM = [_einsum_rules(count) for count in range(1, len(OPERANDS) + 1)]
registry._define(table.Primitive(("np.einsum",), vjps=tuple(v for v, _ in _EINSUM),
                                 jvps=tuple(j for _, j in _EINSUM), result="einsum", value=True, costly=True))


# numba has no np.einsum: lower/for_numba.py calls a loop helper per subscripts ------------------

def einsum_helper(subscripts, count) -> str:
    """The runtime helper's name for these subscripts: `_einsum_ij_jk_2_ik` (letters only,
    so `_2_`, the arrow, is unambiguous)."""
    inputs, output = einsum_subscripts(subscripts, count)
    return "_einsum_" + "_".join(inputs) + "_2_" + output


def einsum_source(name) -> str:
    """The source of the helper `einsum_helper` names: loops over the output's letters, and
    inside them over the summed ones, accumulating the product of the operands' elements."""
    left, arrow, output = name[len("_einsum_"):].rpartition("_2_")
    inputs = left.split("_")
    if not arrow or not all(c.isascii() and c.isalpha() for c in "".join(inputs) + output):
        raise KeyError(name)                 # no helper's name (namespace.is_reserved asks)
    params = [f"x{j}" for j in range(len(inputs))]
    sizes = {}
    for j, subscripts in enumerate(inputs):
        for axis, letter in enumerate(subscripts):
            sizes.setdefault(letter, f"{params[j]}.shape[{axis}]")
    summed = [letter for letter in sizes if letter not in output]
    spec = ",".join(inputs) + "->" + output
    product = _as_product(inputs, output, summed)
    if product is not None:
        return "\n".join([f"def {name}({', '.join(params)}):",
                          f'    """np.einsum({spec!r}, ...) as a matrix product: numba has no einsum."""',
                          f"    return {product}"]) + "\n"
    lines = [f"def {name}({', '.join(params)}):",
             f'    """np.einsum({spec!r}, ...) as loops: numba has no einsum."""']
    lines += [f"    n_{letter} = {size}" for letter, size in sizes.items()]
    if output:
        shape = ", ".join(f"n_{letter}" for letter in output) + ("," if len(output) == 1 else "")
        lines.append(f"    out = np.zeros(({shape}))")
    indent = "    "
    for letter in output:
        lines.append(f"{indent}for {letter} in range(n_{letter}):")
        indent += "    "
    lines.append(f"{indent}total = 0.0")
    inner = indent
    for letter in summed:
        lines.append(f"{inner}for {letter} in range(n_{letter}):")
        inner += "    "
    factors = [f"{p}[{', '.join(s)}]" if s else p for p, s in zip(params, inputs)]
    lines.append(f"{inner}total += {' * '.join(factors)}")
    if output:
        lines.append(f"{indent}out[{', '.join(output)}] = total")
        lines.append("    return out")
    else:
        lines.append("    return total")
    return "\n".join(lines) + "\n"


def _as_product(inputs, output, summed):
    """np.dot or np.outer for an einsum of two vectors or matrices that is one (BLAS, not
    loops): 'ij,jk->ik', 'ik,jk->ij', 'i,ij->j', 'i,i->', 'i,j->ij', ...; else None."""
    if len(inputs) != 2 or not all(1 <= len(s) <= 2 and len(set(s)) == len(s) for s in inputs) \
            or len(summed) > 1:
        return None
    first, second = inputs
    if not summed:                                   # no letter summed: an outer product
        if (first, second) == (output[:1], output[1:]) and len(output) == 2:
            return "np.outer(x0, x1)"
        return None
    letter = summed[0]
    if letter not in first or letter not in second:
        return None
    left = "x0" if first[-1] == letter else "x0.T"     # the summed axis last on the left
    right = "x1" if second[0] == letter else "x1.T"    # and first on the right
    free = first.replace(letter, "") + second.replace(letter, "")
    if free == output:
        return f"np.dot({left}, {right})"
    if len(output) == 2 and free == output[::-1]:
        return f"np.ascontiguousarray(np.dot({left}, {right}).T)"
    return None
