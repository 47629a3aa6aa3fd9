"""Hugging Face in and out: exported models load with `transformers` and compute the same
logits and greedy text; exported tokenizers give the platform's ids; GPT-2 and nanoGPT
checkpoints come in as platform models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from tsr_assets.model.gpt import GPT, RECIPE_OPTIONS, GPTConfig
from tsr_assets.model.hf_export import export_model, gpt2_state_dict
from tsr_assets.model.hf_import import ExternalModelError, from_nanogpt, from_transformers
from tsr_assets.model.sample import SamplingSettings, generate
from tsr_assets.model.train import init_weights
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.hf_tokenizer import HFTokenizer
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets_tests.tokenizers.corpus import LANGUAGES, stories
from tsr_assets_tests.tokenizers.hf_fixture import train_hf_tokenizer

GREEDY = SamplingSettings(temperature=0.0, top_k=None, max_new_tokens=24)


def _model(bias: bool = False, seed: int = 0, vocab: int = 258, recipe: str = "nanogpt") -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab, block_size=64, n_layer=2, n_head=4, n_embd=32,
                          bias=bias, **RECIPE_OPTIONS[recipe]))
    with torch.no_grad():  # move gains and biases off their initial values
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return model.eval()


@pytest.mark.parametrize(("recipe", "bias", "architecture"),
                         [("nanogpt", False, "GPT2LMHeadModel"),
                          ("nanogpt", True, "GPT2LMHeadModel"),
                          ("modern", False, "Qwen3ForCausalLM")])
def test_exported_model_has_the_same_logits_and_greedy_text(tmp_path: Path, recipe: str,
                                                            bias: bool, architecture: str) -> None:
    model, tok = _model(bias, recipe=recipe), ByteTokenizer()
    files = export_model(model, tok, tmp_path / "export", "# card\n")
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "README.md"} <= set(files)
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export")).eval()
    assert type(hf).__name__ == architecture
    x = torch.randint(0, 258, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, _ = model(x, x)
        assert (ours - hf(x).logits).abs().max().item() <= 1e-4
    for prompt in ([256, 72, 105], [256, 224, 164, 168, 32, 224]):
        [platform] = generate(model, [prompt], 257, GREEDY, torch.Generator())
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False,
                          eos_token_id=257, pad_token_id=257)[0, len(prompt):].tolist()
        assert out[: len(platform.ids)] == platform.ids
    assert hf.generation_config.top_k == 15 and hf.generation_config.max_new_tokens == 350


def _tokenizers(tmp_path: Path) -> dict:
    texts = [t for lang in LANGUAGES for t in stories(lang)]
    return {
        "byte": ByteTokenizer(),
        "gpt2": GPT2Tokenizer(),
        "spm": SentencePieceTokenizer(train_spm(texts, 2000)),
        "spm_bpe": SentencePieceTokenizer(train_spm(texts, 2000, "bpe"), model_type="bpe"),
        "hf": HFTokenizer.load(str(train_hf_tokenizer(texts, tmp_path / "hf_source"))),
    }


def test_autotokenizer_gives_the_platform_ids_and_framing(tmp_path: Path) -> None:
    texts = [t for lang in LANGUAGES for t in stories(lang)] + ["a  b c", "x\n\ny"]
    for name, tok in _tokenizers(tmp_path).items():
        folder = tmp_path / name
        tok.to_transformers().save_pretrained(str(folder))
        auto = AutoTokenizer.from_pretrained(str(folder))
        assert auto(texts)["input_ids"] == [[tok.bos_id, *tok.encode(t), tok.eos_id]
                                            for t in texts], name
        ids = auto(texts[0], add_special_tokens=False)["input_ids"]
        assert auto.decode(ids) == tok.decode(ids) == texts[0], name


def _nanogpt_state(model: GPT) -> dict:
    """The platform model under nanoGPT's key names (nn.Linear layout), compiled prefix on."""
    names = gpt2_state_dict(model)
    state = {}
    for key, value in names.items():
        linear = any(part in key for part in ("c_attn.weight", "c_proj.weight", "c_fc.weight"))
        state[f"_orig_mod.{key}"] = value.t().contiguous() if linear else value
    return state


def test_a_nanogpt_checkpoint_samples_like_its_twin(tmp_path: Path) -> None:
    model = _model(bias=True, seed=3)
    cfg = model.config
    path = tmp_path / "ckpt.pt"
    torch.save({"model": _nanogpt_state(model), "iter_num": 500, "best_val_loss": 1.0,
                "model_args": {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                               "block_size": cfg.block_size, "bias": True,
                               "vocab_size": cfg.vocab_size, "dropout": 0.0}}, path)
    twin = from_nanogpt(path)
    prompts = [[256, 72, 105], [256, 10]]
    assert [g.ids for g in generate(twin, prompts, 257, GREEDY, torch.Generator())] == \
        [g.ids for g in generate(model, prompts, 257, GREEDY, torch.Generator())]
    # As a starting point for training, with the shape checked.
    assert init_weights(str(path), torch.device("cpu"))["model_config"]["n_layer"] == 2
    with pytest.raises(ExternalModelError, match="not a nanoGPT checkpoint"):
        torch.save({"weights": {}}, tmp_path / "other.pt")
        from_nanogpt(tmp_path / "other.pt")


def test_a_transformers_gpt2_comes_in_with_its_activation(tmp_path: Path) -> None:
    torch.manual_seed(4)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=120, n_positions=48, n_embd=32, n_layer=2,
                                    n_head=4)).eval()  # GPT-2's own gelu_new
    with torch.no_grad():  # trained GPT-2s have non-zero biases
        for name, param in hf.named_parameters():
            if name.endswith(".bias"):
                param.add_(0.05 * torch.randn_like(param))
    hf.save_pretrained(str(tmp_path / "gpt2"))
    ours = from_transformers(str(tmp_path / "gpt2"))
    assert ours.config.gelu_approximate == "tanh" and ours.config.bias
    x = torch.randint(0, 120, (2, 30))
    with torch.no_grad():
        assert (ours(x, x)[0] - hf(x).logits).abs().max().item() <= 1e-4
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ExternalModelError, match="only GPT-2-architecture"):
        from_transformers(str(tmp_path / "llama"))
