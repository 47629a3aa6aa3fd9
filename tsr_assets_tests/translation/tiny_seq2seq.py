"""A tiny NLLB-shaped translation model for tests and the benchmark: an M2M100 architecture
(NLLB's) from a small config with random weights, and a word-level tokenizer trained here on
English and Hindi words, with FLORES-200 language tokens. Saved and loaded through the real
`from_pretrained` path. Its translations are word salad, but of the target script's words:
the test model's generation config suppresses every English word token and samples (random
weights decode greedily into one phrase repeated), so what comes out has the shape of a
translation: target-script words, no loops (the gates can still reject it)."""

from __future__ import annotations

import random
from pathlib import Path

from tsr_assets.core.languages import get_language

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
LANGUAGE_TOKENS = ["eng_Latn", "hin_Deva", "mar_Deva", "ben_Beng"]

ENGLISH_WORDS = ("once upon a time there was a little girl named lily she liked to play with her "
                 "red ball in the big green park one day the sun was bright and the birds sang "
                 "happy songs tom and his dog went to see the old tree by the river they found "
                 "a shiny stone under it and laughed together").split()


def _hindi_words() -> list[str]:
    folder = get_language("hindi").package_data_dir
    found = []
    for name in ("nouns.txt", "verbs.txt", "adjectives.txt"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                found.extend(line.split())
    return sorted(set(found))


def build_tiny_seq2seq(folder: Path, d_model: int = 32, layers: int = 1, seed: int = 0,
                       language_tokens: tuple[str, ...] = tuple(LANGUAGE_TOKENS)) -> Path:
    """Build, save and return the folder of the tiny model and its tokenizer, with
    `language_tokens` as its language codes (NLLB's FLORES-200 codes by default; M2M100's
    look like `__hi__`; none for a model that reads tags from the text)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import (
        GenerationConfig,
        M2M100Config,
        M2M100ForConditionalGeneration,
        PreTrainedTokenizerFast,
    )

    hindi = _hindi_words()
    vocab = {tok: i for i, tok in enumerate(SPECIALS + list(language_tokens))}
    english = sorted(set(ENGLISH_WORDS) | {w.capitalize() for w in ENGLISH_WORDS}
                     | set(".,!?\"'"))
    for word in english + hindi + ["।"]:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                  pre_tokenizers.Punctuation()])
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", additional_special_tokens=list(language_tokens), model_max_length=64)
    torch.manual_seed(seed)
    config = M2M100Config(
        vocab_size=len(vocab), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model, max_position_embeddings=64, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=2, scale_embedding=True)
    model = M2M100ForConditionalGeneration(config)
    english_ids = sorted(vocab[w] for w in english if w not in ".,!?\"'") + [vocab["<unk>"]]
    model.generation_config = GenerationConfig(
        decoder_start_token_id=2, eos_token_id=2, pad_token_id=0, bos_token_id=1,
        suppress_tokens=english_ids, do_sample=True, top_k=0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    random.seed(seed)
    return folder


def english_story(rng: random.Random, sentences: int = 8) -> str:
    """A story of English words the tiny tokenizer knows."""
    out = []
    for _ in range(sentences):
        words = rng.choices(ENGLISH_WORDS, k=rng.randint(5, 14))
        out.append(" ".join(words).capitalize() + rng.choice([".", "!", "?"]))
    return " ".join(out)
