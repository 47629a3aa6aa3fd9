"""The sampler: padding-exact batching, eos stops, limits and the sampling filters."""

from __future__ import annotations

import pytest
import torch

from tsr_assets.model.gpt import GPT, RECIPE_OPTIONS, GPTConfig
from tsr_assets.model.sample import SamplingSettings, generate, pick_next, sample_many

EOS = 2
GREEDY = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=12)


@pytest.fixture(scope="module")
def counting_model() -> GPT:
    """A tiny model trained until it continues `1 3 4 5 6 7 2` (bos, 3..7, eos) by heart."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=12, block_size=32, n_layer=2, n_head=2, n_embd=32))
    seq = torch.tensor([[1, 3, 4, 5, 6, 7, 2] * 4])
    optimizer = model.configure_optimizer(0.0, 1e-2, (0.9, 0.95), "cpu")
    for _ in range(200):
        _, loss = model(seq[:, :-1], seq[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_generation_stops_at_eos(counting_model: GPT) -> None:
    [out] = generate(counting_model, [[1, 3, 4]], EOS, GREEDY, torch.Generator())
    assert out.ids == [5, 6, 7] and out.ended_at_eos


@pytest.mark.parametrize("recipe", list(RECIPE_OPTIONS))
def test_padded_rows_match_rows_sampled_alone(recipe: str) -> None:
    torch.manual_seed(3)
    random_model = GPT(GPTConfig(vocab_size=40, block_size=64, n_layer=2, n_head=2, n_embd=32,
                                 **RECIPE_OPTIONS[recipe]))
    with torch.no_grad():  # modern's zero-initialised projections would ignore the context
        for param in random_model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    prompts = [[1, 5, 9, 11, 20, 3], [1, 7], [1, 30, 31, 32]]
    settings = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=10)
    together = generate(random_model.eval(), prompts, 0, settings, torch.Generator())
    alone = [generate(random_model, [p], 0, settings, torch.Generator())[0] for p in prompts]
    assert [g.ids for g in together] == [g.ids for g in alone]


def test_limits_on_new_tokens_and_context(counting_model: GPT) -> None:
    short = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=2)
    [out] = generate(counting_model, [[1, 3]], EOS, short, torch.Generator())
    assert out.ids == [4, 5] and not out.ended_at_eos
    # Without a sliding window a prompt near the context length can only grow to block_size.
    long_prompt = [1] + [3, 4, 5, 6, 7, 2, 1] * 4  # 29 tokens of 32
    capped = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=12,
                              sliding_window=False)
    [out] = generate(counting_model, [long_prompt], 99, capped, torch.Generator())
    assert len(out.ids) == 32 - len(long_prompt) and not out.slid
    with pytest.raises(ValueError, match="no room"):
        generate(counting_model, [[1] * 32], EOS, GREEDY, torch.Generator())


def test_sampling_filters_on_hand_made_logits() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[3.0, 2.9, 0.0, -1.0, 2.8]]).repeat(400, 1)
    top2 = pick_next(logits, SamplingSettings(temperature=1.0, top_k=2), gen)
    assert set(top2.tolist()) == {0, 1}
    probs = torch.tensor([[0.6, 0.3, 0.1]]).log().repeat(200, 1)
    nucleus = pick_next(probs, SamplingSettings(temperature=1.0, top_k=None, top_p=0.5), gen)
    assert set(nucleus.tolist()) == {0}
    seen = torch.tensor([[True, False, False, False, False]])
    penalized = pick_next(torch.tensor([[3.0, 2.9, 0.0, -1.0, 0.0]]),
                          SamplingSettings(temperature=0.0, repetition_penalty=2.0), gen, seen)
    assert penalized.tolist() == [1]
    with pytest.raises(ValueError, match="top_p"):
        SamplingSettings(top_p=1.5)


def test_sample_many_is_seeded_and_ordered(counting_model: GPT) -> None:
    prompts = [[1, 3, 4, 5], [1], [1, 3]]
    settings = SamplingSettings(temperature=1.5, top_k=None, max_new_tokens=6)
    first = sample_many(counting_model, prompts, EOS, settings, samples_per_prompt=3,
                        batch_rows=4, seed=7)
    again = sample_many(counting_model, prompts, EOS, settings, samples_per_prompt=3,
                        batch_rows=4, seed=7)
    assert [(r.prompt_index, r.sample_index) for r in first] == [
        (p, s) for p in range(3) for s in range(3)]
    assert [r.ids for r in first] == [r.ids for r in again]
    assert all(len(r.ids) <= 6 and r.seconds > 0 for r in first)


def _reference(model: GPT, prompt: list[int], new_tokens: int, eos: int) -> list[int]:
    """nanoGPT's way: every token from the last block_size tokens, recomputed, one row."""
    ids, out = list(prompt), []
    for _ in range(new_tokens):
        logits, _ = model(torch.tensor([ids[-model.config.block_size:]]))
        token = int(logits[0, -1].argmax())
        if token == eos:
            break
        out.append(token)
        ids.append(token)
    return out


def test_sliding_window_matches_the_reference_past_the_context() -> None:
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()
    prompts = [[1, 4, 9, 12, 20, 3, 8], [1, 7], [1, 25, 26, 27, 28]]
    settings = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=40,
                                sliding_window=True)
    together = generate(model, prompts, 0, settings, torch.Generator())
    for prompt, got in zip(prompts, together, strict=True):
        expected = _reference(model, prompt, 40, eos=0)
        assert got.ids == expected
        assert got.slid == (len(prompt) + len(expected) > model.config.block_size)
    assert sum(len(g.ids) for g in together) > 3 * 16  # well past the context
