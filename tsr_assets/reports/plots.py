"""PNG plots for metadata and reports (matplotlib, no display needed)."""

from __future__ import annotations

import io
import math
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


def metric_bars_png(rows: Sequence[dict], group_key: str, title: str) -> bytes:
    """Bars of metric means with 95% intervals: one panel per metric, languages on the x axis,
    one bar per value of `group_key` (tokenizer or preset).

    `rows` hold language, `group_key`, metric, mean, ci95_low, ci95_high.
    """
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    languages = list(dict.fromkeys(r["language"] for r in rows))
    groups = list(dict.fromkeys(r[group_key] for r in rows))
    columns = min(3, len(metrics)) or 1
    lines = math.ceil(len(metrics) / columns) or 1
    fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines), dpi=100,
                             squeeze=False)
    width = 0.8 / max(1, len(groups))
    for panel, metric in zip(axes.flat, metrics, strict=False):
        for g, group in enumerate(groups):
            xs, means, errors = [], [], [[], []]
            for i, language in enumerate(languages):
                match = [r for r in rows if r["metric"] == metric and r["language"] == language
                         and r[group_key] == group]
                if not match:
                    continue
                r = match[0]
                xs.append(i + (g - (len(groups) - 1) / 2) * width)
                means.append(r["mean"])
                low = r["ci95_low"] if r["ci95_low"] is not None else r["mean"]
                high = r["ci95_high"] if r["ci95_high"] is not None else r["mean"]
                errors[0].append(max(0.0, r["mean"] - low))
                errors[1].append(max(0.0, high - r["mean"]))
            panel.bar(xs, means, width, yerr=errors, capsize=3, label=str(group))
        panel.set_xticks(range(len(languages)), languages)
        panel.set_title(metric, fontsize=10)
        panel.grid(axis="y", alpha=0.3)
    for panel in list(axes.flat)[len(metrics):]:
        panel.axis("off")
    axes.flat[0].legend(fontsize=8, title=group_key)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
