"""Early returns and loop exits become straight, flagged code.

Run by normalize (on the function's body and on each inlined helper's) so that the later
stages see one `return`, the last statement, and loop bodies without `break`/`continue`:

    def f(x):                          def f(x):
        if x < 0.0:                        if x < 0.0:
            return -x           ->             t_result = -x
        y = x * x                          else:
        return y                               y = x * x
                                               t_result = y
                                           return t_result

`structure_returns` moves every return to the end (a return inside a loop sets
`t_returned` and breaks; what follows the loop runs only while it is unset), and
`flag_exits` turns a loop body's `break`/`continue` into `t_live`/`t_stop` flags, so that
one pass through the body is straight code and the loop ends with one `if t_stop: break`.
"""

from __future__ import annotations

import copy

import gast

from ..ir import annotations, nodes
from ..ir.names import Namer

# returns ----------------------------------------------------------------------------------

def structure_returns(body, namer: Namer):
    """Rewrite a body so that it has one `return` as its last statement.

    if c:                  if c:
        return a               t_r = a
    b = g(x)       ->      else:
    return b                   b = g(x)
                               t_r = b
                           return t_r

    A return inside a loop sets a flag and breaks out; the code after the loop runs
    only while the flag is unset.
    """
    if _only_final_return(body):
        return body
    result, flag = namer.fresh("t_result"), namer.fresh("t_returned")
    origin = next((s for s in nodes.statements(body) if isinstance(s, gast.Return)), None)
    structured = _structure(body, result, flag, in_loop=False)
    prologue = [nodes.assign(flag, False, origin)] if _has_loop_return(body) else []
    return prologue + structured + [nodes.return_(result, origin)]


def _only_final_return(body):
    returns = [n for n in nodes.statements(body) if isinstance(n, gast.Return)]
    return len(returns) == 1 and body and returns[0] is body[-1]


def _has_return(stmts):
    return any(isinstance(n, gast.Return) for n in nodes.statements(stmts))


def _has_loop_return(stmts):
    return any(_has_return(n.body) for n in nodes.statements(stmts)
               if isinstance(n, (gast.For, gast.While)))


def _always_returns(stmts):
    for s in stmts:
        if isinstance(s, gast.Return):
            return True
        if isinstance(s, gast.If) and _always_returns(s.body) and _always_returns(s.orelse):
            return True
    return False


def _structure(body, result, flag, in_loop):
    out = []
    for i, stmt in enumerate(body):
        rest = body[i + 1:]
        if isinstance(stmt, gast.Return):
            out.append(nodes.assign_to(nodes.name(result, store=True), stmt.value, stmt))
            if in_loop:
                out += [nodes.assign(flag, True, stmt), nodes.break_(stmt)]
            return out
        if isinstance(stmt, gast.If) and _has_return([stmt]):
            branches = []
            for branch in (stmt.body, stmt.orelse):
                if in_loop or _always_returns(branch):
                    branches.append(_structure(branch, result, flag, in_loop) or [nodes.pass_()])
                else:
                    branches.append(_structure(branch + copy.deepcopy(rest), result, flag, in_loop))
            out.append(nodes.if_(stmt.test, branches[0], branches[1], stmt))
            if in_loop:
                continue
            return out
        if isinstance(stmt, (gast.For, gast.While)) and _has_return(stmt.body):
            loop = copy.copy(stmt)
            loop.body = _structure(stmt.body, result, flag, in_loop=True)
            out.append(loop)
            if in_loop:
                out.append(nodes.if_(nodes.name(flag), [nodes.break_()], origin=stmt))
                continue
            remaining = _structure(rest, result, flag, in_loop=False) if rest else []
            if remaining:
                out.append(nodes.if_(nodes.not_(nodes.name(flag)),
                                     remaining, origin=stmt))
            return out
        out.append(stmt)
    return out


# loop exits ---------------------------------------------------------------------------------

def flag_exits(body, loop, namer: Namer):
    """Turn break/continue into flags, so that one pass through the body is straight code.

    while True:                       while True:
        A                                 t_live = True
        if c:                             t_stop = False
            break             ->          A
        B                                 if c:
                                              t_live = False
                                              t_stop = True
                                          if t_live:
                                              B
                                          if t_stop:     (a loop exit: `loop_exit`)
                                              break
    """
    if not _has_exit(body):
        return body
    live, stop = namer.fresh("t_live"), namer.fresh("t_stop")
    guarded = _guard(body, live, stop, loop)
    exit_ = nodes.if_(stop, [nodes.break_()], origin=loop)
    annotations.set(exit_, "loop_exit", True)
    return [nodes.assign(live, True, loop), nodes.assign(stop, False, loop)] + guarded + [exit_]


def _has_exit(body):
    """A break or continue of this loop (not of a nested one)."""
    for stmt in body:
        if isinstance(stmt, (gast.Break, gast.Continue)):
            return True
        if isinstance(stmt, gast.If) and (_has_exit(stmt.body) or _has_exit(stmt.orelse)):
            return True
    return False


def _guard(body, live, stop, origin):
    out = []
    for i, stmt in enumerate(body):
        if isinstance(stmt, (gast.Break, gast.Continue)):
            out.append(nodes.assign(live, False, stmt if hasattr(stmt, "lineno") else origin))
            if isinstance(stmt, gast.Break):
                out.append(nodes.assign(stop, True, stmt if hasattr(stmt, "lineno") else origin))
            return out
        if isinstance(stmt, gast.If) and (_has_exit(stmt.body) or _has_exit(stmt.orelse)):
            if type(stmt.test) is gast.Constant:
                # a condition normalize folded (`C < 0.7 or ...` with a module constant C):
                # only the branch taken, so no flag is set under `if True:`, where numba
                # would prune what the flag guards in one sweep and not the other (the
                # reverse then restores a save numba never typed; fuzz program #4624)
                taken = stmt.body if stmt.test.value else stmt.orelse
                return out + _guard(list(taken) + list(body[i + 1:]), live, stop, origin)
            branch = nodes.if_(stmt.test, _guard(stmt.body, live, stop, origin) or [nodes.pass_()],
                               _guard(stmt.orelse, live, stop, origin), stmt)
            out.append(branch)
            rest = body[i + 1:]
            if rest:
                out.append(nodes.if_(live, _guard(rest, live, stop, origin), origin=stmt))
            return out
        out.append(stmt)
    return out
