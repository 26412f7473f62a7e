"""The look of routelab's charts: colours, style, and rendering to inline SVG.

Figures are built with matplotlib's object API (no pyplot, no global backend switch)
and saved as SVG with text drawn as paths, so a report needs no font or script from
anywhere. The charts themselves are in :mod:`reports.charts`.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

# Okabe-Ito for runs, Paul Tol's bright for acquirers: distinguishable with the common
# colour-vision deficiencies, and never the same palette for two meanings.
RUN_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
ACQUIRER_COLOURS = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB"]
CLASS_COLOURS = {
    "soft_decline": "#E69F00",
    "hard_decline": "#D55E00",
    "technical_error": "#CC79A7",
    "timeout": "#999999",
}
INCIDENT_COLOUR = "#D62728"
WARMUP_COLOUR = "#BBBBBB"
FULL, HALF = (10.0, 3.5), (5.6, 3.6)  # inches: a full-width chart, one of a pair
P = ParamSpec("P")

STYLE: dict[RcKeyType, Any] = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#888888",
    "legend.frameon": False,
    "svg.fonttype": "path",
    "axes.axisbelow": True,
}


@dataclass(frozen=True)
class Chart:
    """A rendered chart: its title, a one-line reading guide and the image itself."""

    title: str
    caption: str
    uri: str  # data:image/svg+xml;base64,...

    @property
    def svg(self) -> str:
        return base64.b64decode(self.uri.split(",", 1)[1]).decode("utf-8")

    def __repr__(self) -> str:
        # the image is hundreds of kilobytes of base64: never print it
        return f"Chart({self.title!r})"

    def _repr_svg_(self) -> str:
        # Jupyter shows a Chart inline when it is a cell's value
        return self.svg


def styled(build: Callable[P, Chart]) -> Callable[P, Chart]:
    """Run a chart builder under :data:`STYLE` (titles and labels read rcParams late)."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Chart:
        with mpl.rc_context(STYLE):
            return build(*args, **kwargs)

    return wrapper


def new_figure(
    size: tuple[float, float], ncols: int = 1, sharey: bool = False
) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0]
    return fig, list(axes)


def render_chart(fig: Figure, title: str, caption: str) -> Chart:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Chart(title, caption, f"data:image/svg+xml;base64,{encoded}")


def figure_legend(fig: Figure, ax: Axes) -> None:
    """One legend under all panels, so it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(
        list(unique.values()),
        list(unique.keys()),
        loc="outside lower center",
        ncols=min(4, len(unique)),
        fontsize=8.5,
    )


def legend(ax: Axes, **kwargs: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(list(unique.values()), list(unique.keys()), **{"fontsize": 8.5, **kwargs})
