"""numpy as the cpu target's compiled code sees it (its global `np`): numpy itself, but for
the array constructors (np.zeros, np.empty, np.ones, np.full and their _like forms), which
numba lowers here in place, as it lowers an arithmetic operation.

Why: numba implements each constructor as an overload, a small function it compiles through
its whole pipeline once per shape rank and dtype the process meets, and again for each set of
flags (about 0.03-0.15 s each in a fresh process). A gradient allocates its sensitivities in
several ranks, and numba's primal of the same function often allocates nothing: in a fresh
process these compilations were an eighth of the Lorenz gradient's first call. Lowered here
they are a few LLVM instructions in the caller, the code numba's own overloads end in.

Python code that reaches these names (an object-mode block, the python target sharing a
module) calls numpy's. The typing mirrors numba's overloads: the same arguments are accepted,
with the same types returned. Not used where numba's parallel transform runs (it recognizes
numpy's calls by their module's name: adjoint.backends.cpu), nor where this numba's internals
differ (AVAILABLE)."""

from __future__ import annotations

import numpy as _np

try:
    from numba.core import cgutils as _cgutils
    from numba.core import types as _types
    from numba.core.imputils import impl_ret_new_ref as _new_reference
    from numba.core.typing.npydecl import parse_dtype as _parse_dtype
    from numba.core.typing.npydecl import parse_shape as _rank_of_shape
    from numba.extending import lower_builtin as _lower_builtin
    from numba.extending import type_callable as _type_callable
    from numba.np.arrayobj import _empty_nd_impl, _parse_shape, make_array
    AVAILABLE = True
except ImportError:                 # another numba's layout: numpy's constructors, compiled by numba
    AVAILABLE = False


def __getattr__(name):
    """Every other name is numpy's (PEP 562): np.sum, np.float64, np.linalg, ..."""
    return getattr(_np, name)


def zeros(shape, dtype=float):
    return _np.zeros(shape, dtype)


def empty(shape, dtype=float):
    return _np.empty(shape, dtype)


def ones(shape, dtype=None):
    return _np.ones(shape, dtype)


def full(shape, fill_value, dtype=None):
    return _np.full(shape, fill_value, dtype)


def zeros_like(a, dtype=None):
    return _np.zeros_like(a, dtype)


def empty_like(a, dtype=None):
    return _np.empty_like(a, dtype)


def ones_like(a, dtype=None):
    return _np.ones_like(a, dtype)


def full_like(a, fill_value, dtype=None):
    return _np.full_like(a, fill_value, dtype)


# How each constructor fills its array: None (left as allocated), 0 (zero bytes), 1 or the
# argument at that position (stored element by element).
_NEW = {zeros: 0, empty: None, ones: 1, full: 1}
_LIKE = {zeros_like: 0, empty_like: None, ones_like: 1, full_like: 1}
_FILL_ARGUMENT = {full: 1, full_like: 1}


def _given(ty) -> bool:
    return not (ty is None or isinstance(ty, (_types.NoneType, _types.Omitted)))


def _element_type(dtype, default):
    """numba's element type for a `dtype` argument (numba's overloads' parsing); `default`
    where none is given or it is the builtin float."""
    if not _given(dtype):
        return default
    if isinstance(dtype, _types.Function) and dtype.typing_key is float:
        return _types.float64
    if isinstance(dtype, _types.UnicodeType):
        return None                 # a string known only at run time: numba's error, not ours
    return _parse_dtype(dtype)


def _new_array(shape, dtype, default):
    rank = _rank_of_shape(shape)
    element = _element_type(dtype, default)
    return None if rank is None or element is None else _types.Array(element, rank, "C")


def _array_like(a, dtype):
    if isinstance(a, _types.Array):
        element = _element_type(dtype, a.dtype)
        layout = a.layout if a.layout != "A" else "C"
        return None if element is None else a.copy(dtype=element, layout=layout, readonly=False)
    if isinstance(a, (_types.Number, _types.Boolean)):
        element = _element_type(dtype, _types.unliteral(a))
        return None if element is None else _types.Array(element, 0, "C")
    return None


def _scalar(value) -> bool:
    return isinstance(value, (_types.Number, _types.Boolean))


# numba's typing of each, by numpy's parameters (keywords bind to them)
def _type_zeros(shape, dtype=None):
    return _new_array(shape, dtype, _types.float64)


def _type_full(shape, fill_value, dtype=None):
    return _new_array(shape, dtype, _types.unliteral(fill_value)) if _scalar(fill_value) else None


def _type_like(a, dtype=None):
    return _array_like(a, dtype)


def _type_full_like(a, fill_value, dtype=None):
    return _array_like(a, dtype) if _scalar(fill_value) else None


_TYPERS = {zeros: _type_zeros, empty: _type_zeros, ones: _type_zeros, full: _type_full,
           zeros_like: _type_like, empty_like: _type_like, ones_like: _type_like,
           full_like: _type_full_like}


def _filled(context, builder, array_type, shapes, fill, value=None, value_type=None):
    """A new array of `array_type` and `shapes`, its elements zero bytes (fill 0), `value`
    (fill 1) or left as allocated (None)."""
    array = _empty_nd_impl(context, builder, array_type, shapes)
    if fill == 0:
        _cgutils.memset(builder, array.data, builder.mul(array.itemsize, array.nitems), 0)
    elif fill == 1:
        element = array_type.dtype
        if value is None:
            value, value_type = context.get_constant(element, 1), element
        value = context.cast(builder, value, value_type, element)
        with _cgutils.for_range(builder, array.nitems) as loop:
            context.pack_value(builder, element, value, builder.gep(array.data, [loop.index]))
    return _new_reference(context, builder, array_type, array._getvalue())


def _lowering_of_new(constructor):
    def lower(context, builder, sig, args):
        shapes = _parse_shape(context, builder, sig.args[0], args[0])
        at = _FILL_ARGUMENT.get(constructor)
        value, value_type = (args[at], sig.args[at]) if at is not None else (None, None)
        return _filled(context, builder, sig.return_type, shapes, _NEW[constructor], value, value_type)
    return lower


def _lowering_of_like(constructor):
    def lower(context, builder, sig, args):
        prototype = sig.args[0]
        shapes = ()
        if isinstance(prototype, _types.Array):
            array = make_array(prototype)(context, builder, value=args[0])
            shapes = _cgutils.unpack_tuple(builder, array.shape, count=prototype.ndim)
        at = _FILL_ARGUMENT.get(constructor)
        value, value_type = (args[at], sig.args[at]) if at is not None else (None, None)
        return _filled(context, builder, sig.return_type, shapes, _LIKE[constructor], value, value_type)
    return lower


def _register():
    for table, lowering_of in ((_NEW, _lowering_of_new), (_LIKE, _lowering_of_like)):
        for constructor in table:
            _type_callable(constructor)(lambda context, typer=_TYPERS[constructor]: typer)
            lower = lowering_of(constructor)
            required = 1 + (constructor in _FILL_ARGUMENT)
            for count in (required, required + 1):              # with and without the dtype
                _lower_builtin(constructor, *[_types.Any] * count)(lower)


if AVAILABLE:
    _register()
