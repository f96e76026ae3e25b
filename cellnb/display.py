"""Output that reads well both live and in the rendered book.

Executed headlessly (``cellnb run`` sets ``$CELLNB_HEADLESS``), a notebook must not leave empty
"Loading widget..." boxes in the HTML. So interactive widgets show only their static default
figure, and plotly figures are embedded as HTML that uses the plotly.js the book ships locally
(the book works offline). Progress bars live in :mod:`cellnb.progress`.
"""
from __future__ import annotations

from collections.abc import Callable

from .progress import in_notebook, is_headless


def interactive(draw: Callable, **controls):
    """Draw ``draw(**defaults)`` as a static figure, then offer widgets to redraw it live.

    ``controls`` maps argument names to ipywidgets, lists of options or ``(min, max[, step[,
    value]])`` tuples (a slider starting at ``value``, else at ``min``); the static figure uses
    each control's initial value, so the rendered book shows a real figure and the reader on a
    live kernel gets the controls, starting where that figure is. Headless, no widget is even
    created: a created widget leaves state in the saved notebook, which the book would try to
    render with scripts from the internet.
    """
    import matplotlib.pyplot as plt

    if is_headless() or not in_notebook():
        draw(**{name: _initial_value(control) for name, control in controls.items()})
        plt.show()
        return None
    import ipywidgets as widgets
    from IPython.display import display

    built = {name: _as_widget(control) for name, control in controls.items()}
    output = widgets.interactive_output(lambda **kw: (draw(**kw), plt.show()), built)
    box = widgets.VBox([widgets.HBox(list(built.values())), output])
    display(box)
    return box


def _is_options(control) -> bool:
    return isinstance(control, (list, tuple)) and bool(control) and \
        not isinstance(control[0], (int, float))


def _initial_value(control):
    if hasattr(control, "value"):
        return control.value
    if _is_options(control):
        return control[0]
    if isinstance(control, (list, tuple)) and len(control) in (2, 3):
        return control[0]
    if isinstance(control, (list, tuple)) and len(control) == 4:
        return control[3]
    raise TypeError(f"cannot build a widget from {control!r}; pass an ipywidgets widget, a list "
                    "of options or a (min, max[, step[, value]]) tuple")


def _as_widget(control):
    import ipywidgets as widgets

    if isinstance(control, widgets.ValueWidget):
        return control
    _initial_value(control)   # validates
    if _is_options(control):
        return widgets.Dropdown(options=list(control))
    low, high, *rest = control
    value = _initial_value(control)
    if all(isinstance(v, int) for v in control):
        return widgets.IntSlider(min=low, max=high, step=rest[0] if rest else 1, value=value)
    return widgets.FloatSlider(min=low, max=high, step=rest[0] if rest else (high - low) / 100,
                               value=value)


def show_plotly(figure) -> None:
    """Display a plotly figure so that it renders live, in the book, and offline.

    Live, plotly's own renderer is used. Headless, the figure becomes an HTML fragment that
    calls the ``Plotly`` object the book loads from its own ``_static`` folder, so the built
    HTML needs no internet connection. In the book the figure takes the width of the text
    column and follows it when the window is resized (plotly's ``responsive`` option): a fixed
    width, from the figure's layout or plotly's 700 px default, would scroll sideways in a column
    narrower than the figure. Its height is kept. The caller's figure is not modified.
    """
    from IPython.display import HTML, display

    if is_headless():
        import plotly.graph_objects as go

        column_wide = go.Figure(figure).update_layout(width=None, autosize=True)
        display(HTML(column_wide.to_html(include_plotlyjs=False, full_html=False,
                                         default_width="100%",
                                         config={"displaylogo": False, "responsive": True})))
    else:
        figure.show()
