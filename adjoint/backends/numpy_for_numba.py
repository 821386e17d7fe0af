"""numpy as the cpu target's compiled code sees it (its global `np`): numpy itself, but for
the array constructors (np.zeros, np.empty, np.ones, np.full and their _like forms), the sum
of a float, integer or boolean array (whole or along an axis), np.expand_dims and
np.swapaxes, which numba lowers here in place, as it lowers an arithmetic operation.

Why: numba implements each of them as an overload, a small function it compiles through its
whole pipeline once per rank, layout and dtype the process meets: about 0.03-0.15 s each in a
fresh process, about 1 s for np.sum along an axis (its bounds check formats numbers into its
error message) and 3 s for np.swapaxes (through np.transpose of an axes tuple). A gradient
allocates its sensitivities in several ranks and sums its broadcast ones, where numba's primal
of the same function often does neither: these compilations were an eighth of the Lorenz
gradient's first call. Lowered here they are a few LLVM instructions in the caller, the code
numba's own overloads end in.

The typing mirrors numba's: the same arguments are accepted, with the same types returned; a
sum this module does not lower (a dtype, a tuple of axes, complex numbers) is typed and lowered by
numba's own np.sum. Python code reaching these names (an object-mode block) calls numpy's.
Not used where numba's parallel transform runs, which recognizes numpy's calls by their
module's name (backends/cpu.py), nor where this numba's internals differ (AVAILABLE)."""

from __future__ import annotations

import numpy as _np

try:
    from numba.core import cgutils as _cgutils
    from numba.core import types as _types
    from numba.core.imputils import impl_ret_borrowed as _borrowed_reference
    from numba.core.imputils import impl_ret_new_ref as _new_reference
    from numba.core.typing.npydecl import parse_dtype as _parse_dtype
    from numba.core.typing.npydecl import parse_shape as _rank_of_shape
    from numba.extending import lower_builtin as _lower_builtin
    from numba.extending import overload as _overload
    from numba.extending import type_callable as _type_callable
    from numba.np.arrayobj import _empty_nd_impl, _normalize_axis, _parse_shape, make_array
    from numba.np.arrayobj import expand_dims as _expand_dims_view
    from numba.np.arrayobj import populate_array as _populate_array
    from numba.np.ufunc import vectorize as _vectorize
    AVAILABLE = True
except ImportError:                 # another numba's layout: numpy's functions, compiled by numba
    AVAILABLE = False


_AXIS_ERROR = getattr(_np, "exceptions", _np).AxisError       # (numpy.exceptions: numpy 1.25 on)


def __getattr__(name):
    """Every other name is numpy's (PEP 562): np.exp, np.float64, np.linalg, ..."""
    return getattr(_np, name)


def _numpys(name):
    """A function of this module that Python calls as numpy's `name`, and that numba types
    and lowers as registered below."""
    function = getattr(_np, name)

    def call(*args, **kwargs):
        return function(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"np.{name}, lowered in place by numba (adjoint.backends.numpy_for_numba)."
    return call


zeros, empty, ones, full = map(_numpys, ("zeros", "empty", "ones", "full"))
zeros_like, empty_like, ones_like, full_like = map(_numpys, ("zeros_like", "empty_like", "ones_like", "full_like"))
sum = _numpys("sum")     # noqa: A001 (np.sum)
expand_dims, swapaxes = _numpys("expand_dims"), _numpys("swapaxes")
where = _numpys("where")

# How each constructor fills its array: None (left as allocated), 0 (zero bytes) or 1 (a value
# stored element by element: one, or the fill_value argument of full and full_like).
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


# numba's typing of each, by numpy's parameters (keywords bind to them); None: not this form
def _type_zeros(shape, dtype=None):
    return _new_array(shape, dtype, _types.float64)


def _type_full(shape, fill_value, dtype=None):
    return _new_array(shape, dtype, _types.unliteral(fill_value)) if _scalar(fill_value) else None


def _type_like(a, dtype=None):
    return _array_like(a, dtype)


def _type_full_like(a, fill_value, dtype=None):
    return _array_like(a, dtype) if _scalar(fill_value) else None


def _sum_typer(context):
    """A float, integer or boolean array's sum, whole or along one axis (of a matrix or
    higher), of numba's type (_sum_type), lowered in place; any other np.sum typed (and
    lowered: _lower_sum_or_numbas) by numba's own np.sum, with no function in between to
    compile."""
    def typer(a, axis=None, dtype=None):
        if isinstance(a, _types.Array) and isinstance(a.dtype, _SUMMED_IN_PLACE) and not _given(dtype):
            total = _sum_type(a.dtype)
            if not _given(axis):
                return total
            if isinstance(axis, _types.Integer) and a.ndim >= 2:       # one axis summed away
                return _types.Array(total, a.ndim - 1, "C")
        given = [t for t in (a, axis, dtype) if t is not None]
        return _numbas_sum(context).get_call_type(context, tuple(given), {}).return_type
    return typer


def _sum_type(element):
    """The type of a sum of `element`s, numba's (and numpy's on 64-bit Linux): a float's own;
    an integer's or a boolean's int64, uint64 for an unsigned integer. (Asking numba's np.sum
    for it compiles numba's implementation: its typing is its compilation.)"""
    if isinstance(element, _types.Float):
        return element
    if isinstance(element, _types.Integer) and not element.signed:
        return _types.uint64
    return _types.int64


def _numbas_sum(typing_context):
    return typing_context.resolve_value_type(_np.sum)


def _type_expand_dims(a, axis):
    """numba's view with a new axis of length one (a vector's keeps its layout)."""
    if not isinstance(a, _types.Array) or not isinstance(axis, _types.Integer):
        return None
    return a.copy(ndim=a.ndim + 1, layout=a.layout if a.ndim <= 1 else "A")


_TYPERS = {zeros: _type_zeros, empty: _type_zeros, ones: _type_zeros, full: _type_full,
           zeros_like: _type_like, empty_like: _type_like, ones_like: _type_like,
           full_like: _type_full_like, expand_dims: _type_expand_dims}


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


def _fill_value(constructor, sig, args):
    at = _FILL_ARGUMENT.get(constructor)
    return (args[at], sig.args[at]) if at is not None else (None, None)


def _lowering_of_new(constructor):
    def lower(context, builder, sig, args):
        shapes = _parse_shape(context, builder, sig.args[0], args[0])
        return _filled(context, builder, sig.return_type, shapes, _NEW[constructor],
                       *_fill_value(constructor, sig, args))
    return lower


def _lowering_of_like(constructor):
    def lower(context, builder, sig, args):
        prototype = sig.args[0]
        shapes = ()
        if isinstance(prototype, _types.Array):
            array = make_array(prototype)(context, builder, value=args[0])
            shapes = _cgutils.unpack_tuple(builder, array.shape, count=prototype.ndim)
        return _filled(context, builder, sig.return_type, shapes, _LIKE[constructor],
                       *_fill_value(constructor, sig, args))
    return lower


def _lower_sum(context, builder, sig, args):
    """The elements added in order from zero, as numba's np.sum does (memory order for a
    contiguous array, index order for another)."""
    array_type = sig.args[0]
    array = make_array(array_type)(context, builder, value=args[0])
    total = _cgutils.alloca_once_value(builder, context.get_constant(sig.return_type, 0))

    def add(pointer):
        element = context.unpack_value(builder, array_type.dtype, pointer)
        builder.store(_added(context, builder, builder.load(total), sig.return_type, element, array_type.dtype),
                      total)

    if array_type.layout in "CF":
        with _cgutils.for_range(builder, array.nitems) as loop:
            add(builder.gep(array.data, [loop.index]))
    else:
        shapes = _cgutils.unpack_tuple(builder, array.shape, count=array_type.ndim)
        strides = _cgutils.unpack_tuple(builder, array.strides, count=array_type.ndim)
        with _cgutils.loop_nest(builder, shapes, shapes[0].type if shapes else _cgutils.intp_t) as indices:
            add(_cgutils.get_item_pointer2(context, builder, array.data, shapes, strides,
                                           array_type.layout, indices))
    return builder.load(total)


def _lower_expand_dims(context, builder, sig, args):
    """numba's own view: the axis normalized (a negative one counts from the end) and checked."""
    axis = context.cast(builder, args[1], sig.args[1], _types.intp)
    axis = _normalize_axis(context, builder, "np.expand_dims", sig.return_type.ndim, axis)
    view = _expand_dims_view(context, builder, sig, args, axis)
    return _borrowed_reference(context, builder, sig.return_type, view)


def _added(context, builder, total, total_type, element, element_type):
    """total + element in the sum's type: a float's own addition; an integer or boolean
    element widened to the sum's integer (numba's: int64, or uint64 for unsigned ones), whose
    addition wraps around as numba's does."""
    element = context.cast(builder, element, element_type, total_type)
    if isinstance(total_type, _types.Float):
        return builder.fadd(total, element)
    return builder.add(total, element)


_SUMMED_IN_PLACE = (_types.Float, _types.Integer, _types.Boolean) if AVAILABLE else ()


def _lower_sum_or_numbas(context, builder, sig, args):
    """A float, integer or boolean array's sum, whole or along one axis of a matrix or higher,
    with no dtype given, lowered here (its type is numba's: _sum_typer); any other numba's."""
    array_type = sig.args[0]
    if isinstance(array_type, _types.Array) and isinstance(array_type.dtype, _SUMMED_IN_PLACE):
        if len(args) == 1:
            return _lower_sum(context, builder, sig, args)
        if len(args) == 2 and isinstance(sig.args[1], _types.Integer) and array_type.ndim >= 2:
            return _lower_sum_along(context, builder, sig, args)
    return _lower_sum_by_numba(context, builder, sig, args)


def _lower_sum_along(context, builder, sig, args):
    """np.sum(a, axis): a C array of a's shape without the axis, zeros to which each element
    of `a` is added in index order (so each sum runs along the axis from its start, as in
    numba's). An axis out of range raises numpy's AxisError with a fixed message: numba's
    formats the axis and rank into it, which compiles in about a second."""
    array_type, result_type = sig.args[0], sig.return_type
    ndim = array_type.ndim
    array = make_array(array_type)(context, builder, value=args[0])
    axis = context.cast(builder, args[1], sig.args[1], _types.intp)
    axis = builder.select(builder.icmp_signed("<", axis, axis.type(0)), builder.add(axis, axis.type(ndim)), axis)
    outside = builder.or_(builder.icmp_signed("<", axis, axis.type(0)), builder.icmp_signed(">=", axis, axis.type(ndim)))
    with builder.if_then(outside, likely=False):
        context.call_conv.return_user_exc(builder, _AXIS_ERROR,
                                          ("np.sum: axis is out of bounds for the array's dimension",))
    shapes = _cgutils.unpack_tuple(builder, array.shape, count=ndim)
    strides = _cgutils.unpack_tuple(builder, array.strides, count=ndim)

    def without_axis(values):           # values[j] before the axis, values[j + 1] from it on
        return [builder.select(builder.icmp_signed("<", axis.type(j), axis), values[j], values[j + 1])
                for j in range(ndim - 1)]

    result = _empty_nd_impl(context, builder, result_type, without_axis(shapes))
    _cgutils.memset(builder, result.data, builder.mul(result.itemsize, result.nitems), 0)
    result_shapes = _cgutils.unpack_tuple(builder, result.shape, count=ndim - 1)
    result_strides = _cgutils.unpack_tuple(builder, result.strides, count=ndim - 1)
    with _cgutils.loop_nest(builder, shapes, axis.type) as indices:
        source = _cgutils.get_item_pointer2(context, builder, array.data, shapes, strides,
                                            array_type.layout, indices)
        target = _cgutils.get_item_pointer2(context, builder, result.data, result_shapes, result_strides,
                                            "C", without_axis(list(indices)))
        element = context.unpack_value(builder, array_type.dtype, source)
        total = context.unpack_value(builder, result_type.dtype, target)
        context.pack_value(builder, result_type.dtype,
                           _added(context, builder, total, result_type.dtype, element, array_type.dtype), target)
    return _new_reference(context, builder, result_type, result._getvalue())


def _lower_sum_by_numba(context, builder, sig, args):
    """numba's own np.sum for these arguments (its overload, compiled as for a call of np.sum)."""
    function = _numbas_sum(context.typing_context)
    numbas = function.get_call_type(context.typing_context, sig.args, {})
    omitted = [context.get_dummy_value()] * (len(numbas.args) - len(args))
    return context.get_function(function, numbas)(builder, list(args) + omitted)


def _type_swapaxes(a, axis1, axis2):
    """numba's view with two axes exchanged (layout A, as numba's np.swapaxes gives)."""
    if not isinstance(a, _types.Array) or not isinstance(axis1, _types.Integer) \
            or not isinstance(axis2, _types.Integer):
        return None
    return a.copy(layout="A")


def _lower_swapaxes(context, builder, sig, args):
    """The view numba's np.swapaxes makes (through np.transpose of an axes tuple, ~3 s of
    compilation), made here: the shape's and strides' entries at the two axes exchanged."""
    array_type = sig.args[0]
    ndim = array_type.ndim
    array = make_array(array_type)(context, builder, value=args[0])
    first, second = (_normalize_axis(context, builder, "np.swapaxes", ndim,
                                     context.cast(builder, args[k], sig.args[k], _types.intp))
                     for k in (1, 2))

    def exchanged(values):
        def at(axis):                   # values[axis], axis known at run time
            picked = values[0]
            for d in range(1, ndim):
                picked = builder.select(builder.icmp_signed("==", axis, axis.type(d)), values[d], picked)
            return picked
        out = []
        for d in range(ndim):
            here = first.type(d)
            out.append(builder.select(builder.icmp_signed("==", here, first), at(second),
                                      builder.select(builder.icmp_signed("==", here, second), at(first), values[d])))
        return out

    view = make_array(sig.return_type)(context, builder)
    _populate_array(view, data=array.data,
                    shape=exchanged(_cgutils.unpack_tuple(builder, array.shape, count=ndim)),
                    strides=exchanged(_cgutils.unpack_tuple(builder, array.strides, count=ndim)),
                    itemsize=array.itemsize, meminfo=array.meminfo, parent=array.parent)
    return _borrowed_reference(context, builder, sig.return_type, view._getvalue())


def _sum_by_numba(a, axis=None, dtype=None):
    """np.sum(a, dtype=t) with no axis given, which the typer above cannot take (numba binds
    no keyword after a gap): numba's own, through one small function."""
    def numbas(a, axis=None, dtype=None):
        return _np.sum(a, axis=axis, dtype=dtype)
    return numbas


def _select(condition, x, y):
    """np.where(condition, x, y) of one element each."""
    return x if condition else y


def _where_typer(context):
    """np.where(condition, x, y) with an array among them: numba's ufunc of `_select`
    (broadcasting, the result's dtype x's and y's unified, a C array: as numba's np.where
    types it), whose kernel compiles in about 0.2 s where numba's np.where took about 1 s per
    form; any other form (np.where(condition) alone, three numbers) numba's own."""
    def typer(condition, x=None, y=None):
        arguments = tuple(_types.unliteral(t) for t in (condition, x, y) if t is not None)
        if _selects(arguments):
            return _select_ufunc(context).get_call_type(context, arguments, {}).return_type
        return context.resolve_value_type(_np.where).get_call_type(context, arguments, {}).return_type
    return typer


def _selects(arguments) -> bool:
    return len(arguments) == 3 and any(isinstance(t, _types.Array) for t in arguments) \
        and all(isinstance(t, (_types.Array, _types.Number, _types.Boolean)) for t in arguments)


def _select_ufunc(typing_context):
    return typing_context.resolve_value_type(_SELECT)


def _lower_where(context, builder, sig, args):
    typing = context.typing_context
    arguments = tuple(_types.unliteral(t) for t in sig.args)
    function = _select_ufunc(typing) if _selects(arguments) else typing.resolve_value_type(_np.where)
    chosen = function.get_call_type(typing, arguments, {})
    args = [context.cast(builder, value, given, wanted) for value, given, wanted in zip(args, sig.args, chosen.args)]
    return context.get_function(function, chosen)(builder, args)


def _register():
    for table, lowering_of in ((_NEW, _lowering_of_new), (_LIKE, _lowering_of_like)):
        for constructor in table:
            _type_callable(constructor)(lambda context, typer=_TYPERS[constructor]: typer)
            lower = lowering_of(constructor)
            required = 1 + (constructor in _FILL_ARGUMENT)
            for count in (required, required + 1):              # with and without the dtype
                _lower_builtin(constructor, *[_types.Any] * count)(lower)
    _type_callable(swapaxes)(lambda context: _type_swapaxes)
    _lower_builtin(swapaxes, _types.Array, _types.Integer, _types.Integer)(_lower_swapaxes)
    _type_callable(expand_dims)(lambda context: _type_expand_dims)
    _lower_builtin(expand_dims, _types.Array, _types.Integer)(_lower_expand_dims)
    _type_callable(where)(_where_typer)
    _lower_builtin(where, _types.VarArg(_types.Any))(_lower_where)
    _type_callable(sum)(_sum_typer)
    _lower_builtin(sum, _types.VarArg(_types.Any))(_lower_sum_or_numbas)
    _overload(sum)(_sum_by_numba)          # tried after the typer above (registration order)


if AVAILABLE:
    _SELECT = _vectorize(_select)            # (a ufunc compiled per element types when typed)
    _register()
