"""The platform's tokenizers as `transformers` fast tokenizers, with the same ids.

`AutoTokenizer.from_pretrained(folder)` on an exported folder gives exactly the ids of the
platform's `encode`, and with special tokens on (the default) the platform's framing:
`<bos> ids <eos>`. Tests compare both on the corpus for every offline backend.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer as FastTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram

from tsr_assets.tokenizers.base import Tokenizer

SPM_SPACE = "\u2581"


def framed(fast: FastTokenizer, bos: str, eos: str, bos_id: int, eos_id: int):
    """A `PreTrainedTokenizerFast` around `fast` that frames every text as `<bos> $A <eos>`."""
    from transformers import PreTrainedTokenizerFast

    fast.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {bos} $B {eos}",
        special_tokens=list({bos: bos_id, eos: eos_id}.items()),
    )
    return PreTrainedTokenizerFast(tokenizer_object=fast, bos_token=bos, eos_token=eos,
                                   pad_token=eos, clean_up_tokenization_spaces=False)


def sentencepiece_fast(pieces: list[tuple[str, float]], model_type: str, unk_id: int
                       ) -> FastTokenizer:
    """A SentencePiece model as it is trained here (dummy prefix, identity normalization,
    whitespace splits, byte fallback) in the `tokenizers` library."""
    if model_type == "unigram":
        fast = FastTokenizer(Unigram(pieces, unk_id=unk_id, byte_fallback=True))
    else:
        from transformers.convert_slow_tokenizer import generate_merges

        vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
        fast = FastTokenizer(BPE(vocab, generate_merges(vocab), unk_token=pieces[unk_id][0],
                                 byte_fallback=True, fuse_unk=True))
    # The whole text gets one leading marker and every space becomes one, as in SentencePiece.
    fast.normalizer = normalizers.Sequence([normalizers.Prepend(SPM_SPACE),
                                            normalizers.Replace(" ", SPM_SPACE)])
    fast.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPM_SPACE, prepend_scheme="never",
                                                  split=True)
    fast.decoder = decoders.Sequence([decoders.Replace(SPM_SPACE, " "), decoders.ByteFallback(),
                                      decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    return fast


def byte_fast(bos: str, eos: str) -> FastTokenizer:
    """UTF-8 bytes: ids 0-255 are the bytes (GPT-2's byte-to-character table, no merges)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)} | {bos: 256, eos: 257}
    fast = FastTokenizer(BPE(vocab, [], ignore_merges=True))
    fast.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    fast.decoder = decoders.ByteLevel()
    return fast


def tiktoken_fast(ranks_file: Path, pattern: str, special: str) -> FastTokenizer:
    """A tiktoken BPE (ranks file and pre-tokenization pattern) in the `tokenizers` library."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    return TikTokenConverter(vocab_file=str(ranks_file), pattern=pattern,
                             extra_special_tokens=[special]).converted()


def save_transformers_tokenizer(tokenizer: Tokenizer, folder: Path) -> None:
    """Write `tokenizer` as a `transformers` tokenizer into `folder` (`save_pretrained`)."""
    tokenizer.to_transformers().save_pretrained(str(folder))
