"""A decoder-only GPT in one file, in the spirit of nanoGPT, with two recipes.

`nanogpt` (GPT-2's architecture, comparable with the original study): pre-LayerNorm blocks,
learned position embeddings, causal self-attention through `scaled_dot_product_attention`
(flash kernels on GPU), a GELU MLP, input and output embeddings tied, optional biases.

`modern` (from the small-GPT speedrun record): RMSNorm, rotary position embeddings, RMS
normalisation of queries and keys per head (QK-norm), a SwiGLU MLP, an untied output head, and
output projections initialised to zero (each block starts as the identity).

Both have a key/value cache, so generation costs one token's work per step instead of the whole
sequence's.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

#: The model options each training recipe sets (everything else is the preset's shape).
RECIPE_OPTIONS: dict[str, dict] = {
    "nanogpt": {},
    "modern": {"norm": "rmsnorm", "positions": "rope", "qk_norm": True, "mlp": "swiglu",
               "tie_embeddings": False, "zero_init_proj": True},
}
RMS_EPS = 1e-6


@dataclass
class GPTConfig:
    """Shape and architecture of the model."""

    vocab_size: int = 8192
    block_size: int = 1024  # longest context (the learned position table's size)
    n_layer: int = 6
    n_head: int = 8
    n_embd: int = 512
    dropout: float = 0.0
    bias: bool = False
    #: GELU as PyTorch computes it: exact ("none", the default) or GPT-2's tanh approximation
    #: ("tanh"), for models imported from GPT-2 checkpoints.
    gelu_approximate: str = "none"
    norm: str = "layernorm"  # or "rmsnorm"
    positions: str = "learned"  # or "rope"
    qk_norm: bool = False
    mlp: str = "gelu"  # or "swiglu"
    tie_embeddings: bool = True
    zero_init_proj: bool = False
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        choices = {"gelu_approximate": ("none", "tanh"), "norm": ("layernorm", "rmsnorm"),
                   "positions": ("learned", "rope"), "mlp": ("gelu", "swiglu")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.n_embd // self.n_head

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of the MLP: 4x for GELU; for SwiGLU 8/3x (as many parameters as 4x
        with two matrices), rounded up to a multiple of 32."""
        if self.mlp == "gelu":
            return 4 * self.n_embd
        return -(-8 * self.n_embd // 3 // 32) * 32

    def to_dict(self) -> dict:
        """Plain dict (stored in checkpoints)."""
        return asdict(self)


class KVCache:
    """Preallocated keys and values for every layer: (batch, heads, max_len, head_dim) each."""

    def __init__(self, config: GPTConfig, batch: int, max_len: int, device, dtype) -> None:
        shape = (batch, config.n_head, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype)
                       for _ in range(config.n_layer)]
        self.max_len = max_len


def norm_layer(config: GPTConfig, width: int) -> nn.Module:
    """LayerNorm (nanogpt) or RMSNorm (modern)."""
    if config.norm == "rmsnorm":
        return nn.RMSNorm(width, eps=RMS_EPS)
    return nn.LayerNorm(width, bias=config.bias)


def rope_tables(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every position (T,) or (B, T), shaped to broadcast over heads."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device,
                                            dtype=torch.float32) / head_dim)
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    if angles.dim() == 2:
        angles = angles[None]
    return angles.cos()[:, None].to(dtype), angles.sin()[:, None].to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, D) queries or keys by their positions (the halves-rotation form)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (with QK-norm and rotary positions when asked)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        if config.qk_norm:
            self.q_norm = nn.RMSNorm(config.head_dim, eps=RMS_EPS)
            self.k_norm = nn.RMSNorm(config.head_dim, eps=RMS_EPS)
        self.qk_norm = config.qk_norm
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                start: int = 0, mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            cache.keys[layer][:, :, start:start + T] = k
            cache.values[layer][:, :, start:start + T] = v
            k = cache.keys[layer][:, :, :start + T]
            v = cache.values[layer][:, :, :start + T]
        # Without an explicit mask: plain causal attention, or (one new token after a cache)
        # attention to everything before it.
        causal = mask is None and start == 0
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: 4x GELU (nanogpt), or SwiGLU `proj(silu(gate) * fc)`."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        hidden = config.mlp_hidden
        self.fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        if config.mlp == "swiglu":
            self.gate = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.kind = config.mlp
        self.approximate = config.gelu_approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swiglu":
            hidden = F.silu(self.gate(x)) * self.fc(x)
        else:
            hidden = F.gelu(self.fc(x), approximate=self.approximate)
        return self.dropout(self.proj(hidden))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = norm_layer(config, config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = norm_layer(config, config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                start: int = 0, mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer, start, mask, rope)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The language model."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        if config.positions == "learned":
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = norm_layer(config, config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        self._init_projections()

    def _init_projections(self) -> None:
        """GPT-2's scaled init of the residual projections, or zeros (modern)."""
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):
                if self.config.zero_init_proj:
                    nn.init.zeros_(param)
                else:
                    std = 0.02 / math.sqrt(2 * self.config.n_layer)
                    nn.init.normal_(param, mean=0.0, std=std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied weights once); without token and position embeddings if asked."""
        total = sum(p.numel() for p in self.parameters())
        if non_embedding:
            total -= self.wte.weight.numel()
            if self.config.positions == "learned":
                total -= self.wpe.weight.numel()
        return total

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
        start: int = 0,
        pad: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for `idx` (B, T), and the mean cross-entropy when `targets` are given.

        With a `cache`, `idx` holds the tokens at positions start..start+T-1 and only their
        logits are computed; without targets, only the last position's logits are returned.
        `pad` (B,) is the number of left-padding tokens of each row: they are masked out of
        attention and each row's positions start at its first real token, so rows of
        different lengths can share a batch.
        """
        B, T = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(start, start + T, device=idx.device)
        mask = None
        if pad is not None:
            pos = (pos[None, :] - pad[:, None]).clamp(min=0)
            mask = self._padded_mask(pad, start, T)
        elif cache is not None and start > 0 and T > 1:
            mask = torch.ones(T, start + T, dtype=torch.bool, device=idx.device).tril(start)
        x, rope = self._embed(idx, pos)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, start, mask, rope)
        x = self.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, -1:, :]), None
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1),
                               ignore_index=-1)
        return logits, loss

    def _embed(self, idx: torch.Tensor, pos: torch.Tensor
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Token embeddings with learned positions added, or with rotary tables beside them."""
        tokens = self.wte(idx)
        if self.config.positions == "learned":
            return self.drop(tokens + self.wpe(pos)), None
        rope = rope_tables(pos, self.config.head_dim, self.config.rope_theta, tokens.dtype)
        return self.drop(tokens), rope

    @staticmethod
    def _padded_mask(pad: torch.Tensor, start: int, T: int) -> torch.Tensor:
        """(B, 1, T, start+T) attention mask: causal, no padding keys, and every query sees
        itself (so padding queries never meet an all-masked row, which would give NaN)."""
        keys = torch.arange(start + T, device=pad.device)
        queries = torch.arange(start, start + T, device=pad.device)
        causal = keys[None, :] <= queries[:, None]
        real_key = keys[None, :] >= pad[:, None]
        mask = causal[None, :, :] & real_key[:, None, :]
        mask |= keys[None, None, :] == queries[None, :, None]
        return mask[:, None, :, :]

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), as in the PaLM appendix."""
        cfg = self.config
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * \
            cfg.block_size

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float],
                            device_type: str) -> torch.optim.AdamW:
        """AdamW with decay on matrices only; the fused kernel on CUDA."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
        return torch.optim.AdamW(groups, lr=lr, betas=betas, **({"fused": True} if fused else {}))
