"""A trained model as a `transformers` model: GPT-2 (`nanogpt` recipe) or Qwen3 (`modern`).

A `nanogpt` model is GPT-2's architecture: pre-LayerNorm blocks, learned positions, a fused
query/key/value projection, a 4x MLP, tied input and output embeddings. The mapping transposes
the linear layers into GPT-2's `Conv1D` layout and fills biases the model does not have with
zeros. GELU is exact (`gelu`) unless the model was imported with GPT-2's tanh approximation
(`gelu_new`). A `modern` model is Qwen3's architecture (RMSNorm, rotary positions, per-head RMS
QK-norm, SwiGLU, untied head, no biases); the fused projection is split into q, k and v. Either
way the exported model computes the same logits (tests check ≤ 1e-4 in fp32).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.model.gpt import GPT, RMS_EPS, GPTConfig
from tsr_assets.model.sample import SamplingSettings
from tsr_assets.tokenizers.base import Tokenizer

#: Our parameter name -> GPT-2's, per block; `True` where GPT-2 keeps the transpose.
BLOCK_PARAMETERS = (
    ("ln_1", "ln_1", False), ("attn.qkv", "attn.c_attn", True), ("attn.proj", "attn.c_proj", True),
    ("ln_2", "ln_2", False), ("mlp.fc", "mlp.c_fc", True), ("mlp.proj", "mlp.c_proj", True),
)
ACTIVATIONS = {"none": "gelu", "tanh": "gelu_new"}


def gpt2_config(config: GPTConfig, bos_id: int, eos_id: int):
    """The `transformers.GPT2Config` of a model shape (dropout off: an exported model is for
    inference and fine-tuning from its own config)."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, n_inner=4 * config.n_embd,
        activation_function=ACTIVATIONS[config.gelu_approximate], resid_pdrop=0.0,
        embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
    )


def _block_pairs(layer: int) -> Iterator[tuple[str, str, bool]]:
    for ours, theirs, transposed in BLOCK_PARAMETERS:
        yield f"blocks.{layer}.{ours}", f"transformer.h.{layer}.{theirs}", transposed


def gpt2_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """GPT-2's parameter names and layouts for `model` (absent biases as zeros)."""
    ours = model.state_dict()
    out = {"transformer.wte.weight": ours["wte.weight"],
           "transformer.wpe.weight": ours["wpe.weight"],
           "lm_head.weight": ours["lm_head.weight"]}
    pairs = [("ln_f", "transformer.ln_f", False)]
    pairs += [p for layer in range(model.config.n_layer) for p in _block_pairs(layer)]
    for ours_name, theirs, transposed in pairs:
        weight = ours[f"{ours_name}.weight"]
        out[f"{theirs}.weight"] = weight.t().contiguous() if transposed else weight
        width = weight.shape[0]
        out[f"{theirs}.bias"] = ours.get(f"{ours_name}.bias", torch.zeros(width))
    return out


def qwen3_config(config: GPTConfig, bos_id: int, eos_id: int):
    """The `transformers.Qwen3Config` of a `modern` model: Qwen3 has exactly its pieces
    (RMSNorm, rotary positions in the halves form, RMS QK-norm per head, SwiGLU, untied head,
    no biases)."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=config.vocab_size, hidden_size=config.n_embd,
        intermediate_size=config.mlp_hidden, num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head, num_key_value_heads=config.n_head,
        head_dim=config.head_dim, hidden_act="silu", max_position_embeddings=config.block_size,
        rms_norm_eps=RMS_EPS, tie_word_embeddings=False, attention_bias=False,
        use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
    )


def qwen3_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Qwen3's parameter names for a `modern` model (the fused qkv split in three)."""
    ours, width = model.state_dict(), model.config.n_embd
    out = {"model.embed_tokens.weight": ours["wte.weight"],
           "model.norm.weight": ours["ln_f.weight"], "lm_head.weight": ours["lm_head.weight"]}
    for i in range(model.config.n_layer):
        src, dst = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = ours[src + "attn.qkv.weight"].split(width, dim=0)
        out |= {dst + "input_layernorm.weight": ours[src + "ln_1.weight"],
                dst + "self_attn.q_proj.weight": q, dst + "self_attn.k_proj.weight": k,
                dst + "self_attn.v_proj.weight": v,
                dst + "self_attn.o_proj.weight": ours[src + "attn.proj.weight"],
                dst + "self_attn.q_norm.weight": ours[src + "attn.q_norm.weight"],
                dst + "self_attn.k_norm.weight": ours[src + "attn.k_norm.weight"],
                dst + "post_attention_layernorm.weight": ours[src + "ln_2.weight"],
                dst + "mlp.gate_proj.weight": ours[src + "mlp.gate.weight"],
                dst + "mlp.up_proj.weight": ours[src + "mlp.fc.weight"],
                dst + "mlp.down_proj.weight": ours[src + "mlp.proj.weight"]}
    return out


def _architecture(model: GPT, bos_id: int, eos_id: int):
    """The `transformers` class, config and state dict that match `model` exactly."""
    from transformers import GPT2LMHeadModel, Qwen3ForCausalLM

    cfg = model.config
    modern = (cfg.norm, cfg.positions, cfg.qk_norm, cfg.mlp, cfg.tie_embeddings) == \
        ("rmsnorm", "rope", True, "swiglu", False)
    classic = (cfg.norm, cfg.positions, cfg.qk_norm, cfg.mlp) == \
        ("layernorm", "learned", False, "gelu")
    if modern and not cfg.bias:
        return Qwen3ForCausalLM, qwen3_config(cfg, bos_id, eos_id), qwen3_state_dict(model)
    if classic and cfg.tie_embeddings:
        return GPT2LMHeadModel, gpt2_config(cfg, bos_id, eos_id), gpt2_state_dict(model)
    raise ValueError("no transformers architecture matches this model exactly (the nanogpt and "
                     "modern recipes export as GPT-2 and Qwen3)")


def to_transformers(model: GPT, bos_id: int, eos_id: int):
    """A `transformers` model (GPT-2 for nanogpt, Qwen3 for modern) with `model`'s weights,
    in eval mode on the CPU."""
    model_class, config, state = _architecture(model, bos_id, eos_id)
    hf_model = model_class(config)
    state = {k: v.detach().float().cpu() for k, v in state.items()}
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    # GPT-2's causal-mask buffers are its own; nothing else may be missing.
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise ValueError(f"{model_class.__name__} mapping is incomplete: missing {missing}, "
                         f"unexpected {unexpected}")
    return hf_model.eval()


def generation_config(settings: SamplingSettings, bos_id: int, eos_id: int):
    """The platform's sampling defaults as a `transformers.GenerationConfig`."""
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=settings.temperature > 0, temperature=settings.temperature or None,
        top_k=settings.top_k, top_p=settings.top_p,
        repetition_penalty=settings.repetition_penalty, max_new_tokens=settings.max_new_tokens,
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
    )


def export_model(model: GPT, tokenizer: Tokenizer, out: Path, card: str,
                 settings: SamplingSettings | None = None) -> list[str]:
    """Write a folder `from_pretrained` loads: config.json, model.safetensors,
    generation_config.json, the tokenizer and the card (README.md). It replaces `out` whole,
    atomically; returns the file names."""
    tmp = temp_path_for(out)
    try:
        tmp.mkdir(parents=True)
        to_transformers(model, tokenizer.bos_id, tokenizer.eos_id).save_pretrained(str(tmp))
        generation_config(settings or SamplingSettings(), tokenizer.bos_id,
                          tokenizer.eos_id).save_pretrained(str(tmp))
        tokenizer.to_transformers().save_pretrained(str(tmp))
        (tmp / "README.md").write_text(card, encoding="utf-8")
        files = sorted(p.name for p in tmp.iterdir())
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files
