"""What every chart shares: readable fonts, distinguishable colours, the mark of a missed target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

#: 100 dpi: a 10 pt label is 14 px high, readable at 100 % (and the PNGs stay small).
DPI = 100
plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 12,
        "axes.labelsize": 10,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "figure.titlesize": 13,
    }
)

#: Colour-blind-safe (Okabe and Ito), one per strategy or variant, the same in every chart.
COLOURS = {
    "refresh_from_db": "#999999",
    "cache": "#0072B2",
    "full": "#D55E00",
    "columns": "#009E73",
    "auto": "#CC79A7",
    "cached_get() hit": "#0072B2",
    "get()": "#D55E00",
    "raw cursor": "#000000",
    "cached_get_many()": "#0072B2",
    "filter(pk__in=...)": "#D55E00",
    "CPU reference (pure Python)": "#666666",
}
OTHER = ("#E69F00", "#56B4E9", "#F0E442", "#000000")
#: A missed target: red outline and hatching, named in the legend.
MISSED = {"edgecolor": "#C00000", "linewidth": 2.5, "hatch": "///"}


def colour(name: str, index: int = 0) -> str:
    return COLOURS.get(name, OTHER[index % len(OTHER)])


def missed_patch(label: str) -> Patch:
    return Patch(facecolor="white", label=label, **MISSED)


def plain_numbers(axis: Any) -> None:
    """Log-axis ticks at 1, 2 and 5 of each decade, labelled as plain numbers (matplotlib's
    own labels read "2 x 10^3", and a span under a decade gets none)."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,g}"))
    axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def save(fig: Any, path: Path) -> bool:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return True
