"""How every object adjoint returns shows itself: a repr naming the transform, the function,
its wrt arguments and target, and in Jupyter the emitted source (HTML, highlighted where
pygments is installed, or markdown). Separate from gradient.py because the objects of
compose.py (jvp, vjp, jacobian, hvp, hessian) show themselves the same way."""

from __future__ import annotations


class Presented:
    """What every object adjoint returns shows of itself: a repr naming the transform, the
    function, its wrt arguments and target, and (in Jupyter) the emitted source. Subclasses
    have `transform`, `fn`, `wrt`, `target` and `source`."""

    def __repr__(self):
        return f"<adjoint.{self.transform} of {self.fn.__name__} wrt {', '.join(self.wrt)} [{self.target}]>"

    def _repr_html_(self):
        """In Jupyter: the generated source, highlighted where pygments is installed."""
        return source_html(self.source)

    def _repr_markdown_(self):
        return source_markdown(repr(self), self.source)


def source_html(source) -> str:
    """Generated source as HTML: highlighted with pygments if it is installed, else <pre>."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        import html
        return f"<pre>{html.escape(source)}</pre>"
    return highlight(source, PythonLexer(), HtmlFormatter(noclasses=True))


def source_markdown(title, source) -> str:
    return f"`{title}`\n\n```python\n{source}```\n"
