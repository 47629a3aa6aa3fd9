"""The GPT model: learning, the key/value cache, parameter counts and presets."""

from __future__ import annotations

import pytest
import torch

from tsr_assets.model.gpt import GPT, RECIPE_OPTIONS, GPTConfig, KVCache
from tsr_assets.model.optimizers import Muon, build_optimizers, orthogonalize
from tsr_assets.model.presets import PRESETS, get_preset

RECIPES = list(RECIPE_OPTIONS)


def _tiny(recipe: str = "nanogpt", **overrides) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=32)
    return GPT(GPTConfig(**{**cfg, **RECIPE_OPTIONS[recipe], **overrides}))


def _perturbed(model: GPT) -> GPT:
    """Move every weight off its initial value (zero projections, unit gains)."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model.eval()


@pytest.mark.parametrize("recipe", RECIPES)
def test_loss_on_a_repeated_batch_falls_far_below_its_start(recipe: str) -> None:
    model = _tiny(recipe)
    x = torch.randint(0, 50, (4, 17), generator=torch.Generator().manual_seed(1))
    inputs, targets = x[:, :-1], x[:, 1:]
    optimizer = build_optimizers(model, recipe, 3e-3, 0.0, (0.9, 0.95), "cpu")
    _, start = model(inputs, targets)
    for _ in range(150):
        _, loss = model(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert start.item() > 3.5  # about ln(50) = 3.9 at initialization
    assert loss.item() < 0.1 * start.item()


def test_modern_recipe_has_its_pieces() -> None:
    model = _tiny("modern")
    assert not hasattr(model, "wpe") and model.lm_head.weight is not model.wte.weight
    assert isinstance(model.blocks[0].ln_1, torch.nn.RMSNorm)
    assert hasattr(model.blocks[0].attn, "q_norm") and hasattr(model.blocks[0].mlp, "gate")
    # Zero-initialised output projections: every block starts as the identity.
    for block in model.blocks:
        assert not block.attn.proj.weight.any() and not block.mlp.proj.weight.any()
    n, L, V, H = 32, 2, 50, model.config.mlp_hidden
    per_block = 4 * n * n + 3 * n * H + 2 * n + 2 * (n // 2)  # + norms and QK-norm gains
    assert H == 96 and model.num_params() == 2 * V * n + L * per_block + n
    # Muon takes exactly the blocks' matrices; AdamW the embeddings, head and gains.
    muon, adamw = build_optimizers(model, "modern", 1e-3, 0.1, (0.9, 0.95), "cpu").optimizers
    assert isinstance(muon, Muon)
    assert sum(p.numel() for g in muon.param_groups for p in g["params"]) == \
        L * (4 * n * n + 3 * n * H)
    adam_ids = {id(p) for g in adamw.param_groups for p in g["params"]}
    assert {id(model.wte.weight), id(model.lm_head.weight)} <= adam_ids


def test_newton_schulz_flattens_the_singular_values() -> None:
    matrix = torch.randn(64, 24, generator=torch.Generator().manual_seed(3))
    matrix[:, 0] *= 50  # one direction dominates the raw update
    singular = torch.linalg.svdvals(orthogonalize(matrix))
    assert singular.shape == (24,) and 0.5 < singular.min() and singular.max() < 1.3
    raw = torch.linalg.svdvals(matrix)
    assert raw.max() / raw.min() > 20


@pytest.mark.parametrize("recipe", RECIPES)
def test_cached_decoding_matches_full_recompute(recipe: str) -> None:
    model = _perturbed(_tiny(recipe))
    seq = torch.randint(0, 50, (3, 20), generator=torch.Generator().manual_seed(2))
    cache = KVCache(model.config, batch=3, max_len=32, device="cpu", dtype=torch.float32)
    with torch.no_grad():
        prefill, _ = model(seq[:, :12], cache=cache, start=0)
        full, _ = model(seq[:, :12])
        torch.testing.assert_close(prefill, full)
        for pos in range(12, 20):
            step_logits, _ = model(seq[:, pos:pos + 1], cache=cache, start=pos)
            reference, _ = model(seq[:, :pos + 1])
            torch.testing.assert_close(step_logits, reference, rtol=1e-4, atol=1e-5)
        # Several new tokens at once after a prefix (chunked prefill) also match.
        cache2 = KVCache(model.config, batch=3, max_len=32, device="cpu", dtype=torch.float32)
        model(seq[:, :5], cache=cache2, start=0)
        chunk, _ = model(seq[:, 5:9], cache=cache2, start=5)
        torch.testing.assert_close(chunk, model(seq[:, :9])[0], rtol=1e-4, atol=1e-5)


def test_parameter_counts_with_tied_embeddings() -> None:
    model = _tiny()
    assert model.lm_head.weight is model.wte.weight
    n, L, V, T = 32, 2, 50, 32
    per_block = 12 * n * n + 2 * n  # attention + MLP matrices, two LayerNorm weights
    expected = V * n + T * n + L * per_block + n
    assert model.num_params() == expected
    assert model.num_params(non_embedding=True) == expected - V * n - T * n
    with_bias = _tiny(bias=True)
    assert with_bias.num_params() > expected


def test_too_long_input_and_bad_shapes_are_errors() -> None:
    model = _tiny()
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)


def test_presets_follow_the_original_grid() -> None:
    assert {"tiny", "e512_l6"} <= set(PRESETS)  # the two sizes the defs folder ships
    for name, preset in PRESETS.items():
        assert name.replace("_", "").isalnum()
        if name != "tiny":
            assert name == f"e{preset.n_embd}_l{preset.n_layer}"
            assert preset.n_head == 8 and preset.block_size == 1024
    # The original's 53M model: 512 wide, 6 layers, with Sarvam's 68,096-token vocabulary.
    model = GPT(get_preset("e512_l6").model_config(68_096))
    assert 50e6 < model.num_params() < 56e6
    with pytest.raises(ValueError, match="known"):
        get_preset("huge")
