"""The GPT model: learning, the key/value cache, parameter counts and presets."""

from __future__ import annotations

import pytest
import torch

from tsr_assets.model.gpt import GPT, GPTConfig, KVCache
from tsr_assets.model.presets import DEFAULT_PRESETS, PRESETS, get_preset


def _tiny(**overrides) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=32)
    return GPT(GPTConfig(**{**cfg, **overrides}))


def test_loss_on_a_repeated_batch_falls_far_below_its_start() -> None:
    model = _tiny()
    x = torch.randint(0, 50, (4, 17), generator=torch.Generator().manual_seed(1))
    inputs, targets = x[:, :-1], x[:, 1:]
    optimizer = model.configure_optimizer(0.0, 3e-3, (0.9, 0.95), "cpu")
    _, start = model(inputs, targets)
    for _ in range(150):
        _, loss = model(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert start.item() > 3.5  # about ln(50) = 3.9 at initialization
    assert loss.item() < 0.1 * start.item()


def test_cached_decoding_matches_full_recompute() -> None:
    model = _tiny().eval()
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
    assert set(DEFAULT_PRESETS) == {"tiny", "e512_l6"}
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
