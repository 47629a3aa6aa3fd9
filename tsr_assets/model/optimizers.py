"""Optimizers of the two recipes: AdamW (nanogpt), and Muon for the hidden weight matrices with
AdamW for embeddings, output head and gains (modern).

Muon ("MomentUm Orthogonalized by Newton-Schulz") takes SGD's momentum update of a weight
matrix and replaces it by the nearest semi-orthogonal matrix before applying it, computed with
a few Newton-Schulz iterations; every direction of the update then moves at the same rate. It
applies only to 2-D weights inside the blocks.
"""

from __future__ import annotations

import torch

from tsr_assets.model.gpt import GPT

#: Coefficients of the quintic Newton-Schulz iteration (tuned for speed of convergence on
#: the singular values; they need not converge exactly to 1, only into a band around it).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """An approximately semi-orthogonal matrix with `matrix`'s singular vectors."""
    a, b, c = NS_COEFFICIENTS
    x = matrix.float() / (matrix.norm() + 1e-7)
    wide = x.size(0) > x.size(1)
    if wide:
        x = x.t()
    for _ in range(steps):
        gram = x @ x.t()
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.t() if wide else x


class Muon(torch.optim.Optimizer):
    """Nesterov momentum whose update is orthogonalized, scaled by sqrt(max(1, rows/cols))."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95,
                 weight_decay: float = 0.0, ns_steps: int = 5) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "ns_steps": ns_steps})

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                buffer = self.state[param].setdefault("momentum_buffer",
                                                      torch.zeros_like(param.grad))
                buffer.mul_(group["momentum"]).add_(param.grad)
                update = param.grad.add(buffer, alpha=group["momentum"])
                update = orthogonalize(update, group["ns_steps"]).to(param.dtype)
                scale = max(1.0, param.size(0) / param.size(1)) ** 0.5
                if group["weight_decay"]:
                    param.mul_(1 - group["lr"] * group["weight_decay"])
                param.add_(update, alpha=-group["lr"] * scale)


class Optimizers:
    """Several optimizers stepped together, with one list of parameter groups (each has a
    `base_lr`: the schedule sets `lr = base_lr x factor`)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group.setdefault("base_lr", group["lr"])

    @property
    def param_groups(self) -> list[dict]:
        """Every group of every optimizer."""
        return [g for optimizer in self.optimizers for g in optimizer.param_groups]

    def set_lr_factor(self, factor: float) -> None:
        """Scale every group's base learning rate by the schedule's factor."""
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * factor

    def step(self, scaler: torch.amp.GradScaler | None = None) -> None:
        """Step each optimizer (through the gradient scaler when there is one)."""
        for optimizer in self.optimizers:
            if scaler is not None:
                scaler.step(optimizer)
            else:
                optimizer.step()

    def unscale(self, scaler: torch.amp.GradScaler) -> None:
        """Unscale the gradients of every optimizer (before clipping)."""
        for optimizer in self.optimizers:
            scaler.unscale_(optimizer)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient."""
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        """Every optimizer's state (Muon's momentum buffers included)."""
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict` (or from a plain single-optimizer state of older runs)."""
        states = state["optimizers"] if "optimizers" in state else [state]
        if len(states) != len(self.optimizers):
            raise ValueError(f"the checkpoint holds {len(states)} optimizer states, this run "
                             f"has {len(self.optimizers)}: it was trained with another recipe")
        for optimizer, saved in zip(self.optimizers, states, strict=True):
            optimizer.load_state_dict(saved)


def build_optimizers(model: GPT, recipe: str, lr: float, weight_decay: float,
                     betas: tuple[float, float], device_type: str, muon_lr: float = 0.02,
                     muon_momentum: float = 0.95) -> Optimizers:
    """AdamW for everything (nanogpt), or Muon for the blocks' matrices and AdamW for the rest
    (modern: embeddings, output head and gains)."""
    if recipe == "nanogpt":
        return Optimizers([model.configure_optimizer(weight_decay, lr, betas, device_type)])
    hidden = [p for name, p in model.named_parameters()
              if name.startswith("blocks.") and p.dim() == 2]
    hidden_ids = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if id(p) not in hidden_ids]
    adamw = torch.optim.AdamW(
        [{"params": [p for p in rest if p.dim() >= 2], "weight_decay": weight_decay},
         {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0}], lr=lr, betas=betas)
    return Optimizers([Muon(hidden, lr=muon_lr, momentum=muon_momentum), adamw])
