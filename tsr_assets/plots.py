"""PNG plots for metadata and reports (matplotlib, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curves_png(curves: Mapping[str, Sequence[dict]], title: str) -> bytes:
    """Train and val loss against step for one or more runs (`label -> metrics rows`)."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for label, rows in curves.items():
        train = [(r["step"], r["train_loss"]) for r in rows if "train_loss" in r]
        val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
        if train:
            line, = ax.plot(*zip(*train, strict=True), alpha=0.5, linewidth=1,
                            label=f"{label} train")
            color = line.get_color()
        else:
            color = None
        if val:
            ax.plot(*zip(*val, strict=True), marker="o", markersize=3, color=color,
                    label=f"{label} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
