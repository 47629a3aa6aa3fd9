"""Translator B: a local sequence-to-sequence model (`transformers.AutoModelForSeq2SeqLM`).

Works with NLLB-200 and M2M100 checkpoints and with IndicTrans2-style models, from a folder or
a Hub id. Target codes come from the language registry (`Language.translation_code`, e.g.
`hin_Deva`); how a model takes them is its `code_style`:

- `nllb`: the tokenizer has a token per FLORES-200 code; the source code is the tokenizer's
  `src_lang` and the target code token is forced as the first generated token;
- `m2m100`: the same with tokens `__hi__` built from ISO 639-1 codes;
- `tagged`: IndicTrans2's convention, `"<src code> <tgt code> "` before every input.

Sentences are sorted by length and translated in batches bounded by count and by padded
tokens, on a GPU in bf16 (fp16 where bf16 is not supported) when one is present, else on CPU
in fp32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from tsr_assets.core.devices import resolve_device
from tsr_assets.core.hub import safe_loading_kwargs
from tsr_assets.core.languages import Language, get_language

CodeStyle = Literal["auto", "nllb", "m2m100", "tagged"]
SOURCE_LANGUAGE = "english"
#: NLLB-200 distilled to 600M parameters: the translator when none is named.
DEFAULT_SEQ2SEQ_MODEL = "facebook/nllb-200-distilled-600M"


class TranslatorSetupError(ValueError):
    """The translation model cannot serve this language pair, or cannot be loaded."""


@dataclass(frozen=True)
class Seq2SeqSettings:
    """How the local model is loaded and run."""

    model: str
    batch_size: int = 64
    max_batch_tokens: int = 8192
    max_source_tokens: int | None = None
    num_beams: int = 1
    max_new_tokens_ratio: float = 2.0
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    code_style: CodeStyle = "auto"
    #: More `generate()` arguments, over the model's generation config (e.g.
    #: `{"no_repeat_ngram_size": 3}` or `{"do_sample": False}`).
    generation: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be at least 1")


def _device_and_dtype(settings: Seq2SeqSettings):
    import torch

    device = resolve_device(settings.device)
    if settings.dtype != "auto":
        return device, getattr(torch, settings.dtype)
    if device.type == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float32


class Seq2SeqTranslator:
    """One loaded model translating sentences of one language (English by default) into
    another."""

    def __init__(self, settings: Seq2SeqSettings, target: Language,
                 source: Language | None = None) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        source = source or get_language(SOURCE_LANGUAGE)
        self.settings, self.target, self.source = settings, target, source
        for language, role in ((target, "a target"), (source, "a source")):
            if not language.translation_code:
                raise TranslatorSetupError(
                    f"language {language.key!r} has no translation_code in the language "
                    f"registry; it cannot be {role}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(settings.model, trust_remote_code=False)
            self.device, dtype = _device_and_dtype(settings)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(
                settings.model, dtype=dtype, **safe_loading_kwargs(settings.model))
        except (OSError, ValueError) as exc:
            raise TranslatorSetupError(
                f"translation model {settings.model!r} could not be loaded ({exc}). Give a "
                "folder holding a saved AutoModelForSeq2SeqLM and its tokenizer, or a Hub id "
                "(needs the network or a local HF cache)") from None
        self.model.to(self.device).eval()
        self.code_style = self._resolve_style(source, target)
        self._prefix = ""
        self._forced_bos: int | None = None
        if self.code_style == "tagged":
            self._prefix = f"{source.translation_code} {target.translation_code} "
        else:
            src, tgt = ((source.translation_code, target.translation_code)
                        if self.code_style == "nllb"
                        else (source.iso_code, target.iso_code))
            if hasattr(self.tokenizer, "src_lang"):
                self.tokenizer.src_lang = src
            token = tgt if self.code_style == "nllb" else f"__{tgt}__"
            self._forced_bos = self._token_id(token)
        self.name = settings.model.rstrip("/").split("/")[-1]

    @property
    def source_terminators(self) -> tuple[str, ...] | None:
        """How the source's sentences end, for splitting (None: English's own rules)."""
        return None if self.source.key == SOURCE_LANGUAGE else self.source.sentence_terminators

    def _token_id(self, token: str) -> int | None:
        ident = self.tokenizer.convert_tokens_to_ids(token)
        if ident is None or ident == self.tokenizer.unk_token_id:
            return None
        return int(ident)

    def _resolve_style(self, source: Language, target: Language) -> str:
        style = self.settings.code_style
        if style == "auto":
            if getattr(self.model.config, "model_type", "").lower().startswith("indictrans"):
                style = "tagged"
            elif self._token_id(target.translation_code) is not None:
                style = "nllb"
            elif self._token_id(f"__{target.iso_code}__") is not None:
                style = "m2m100"
            else:
                raise TranslatorSetupError(
                    f"translation model {self.settings.model!r} has no language token for "
                    f"{target.display_name} (neither {target.translation_code!r} nor "
                    f"'__{target.iso_code}__'); use an NLLB, M2M100 or IndicTrans2 model, or "
                    "set code_style to 'tagged' for a model that reads tags from the text")
        if style in ("nllb", "m2m100"):
            code = target.translation_code if style == "nllb" else f"__{target.iso_code}__"
            if self._token_id(code) is None:
                raise TranslatorSetupError(
                    f"translation model {self.settings.model!r} has no token {code!r} for "
                    f"{target.display_name} (code_style {style!r})")
        return style

    def count_tokens(self, text: str) -> int:
        """Tokens of one input as the model sees it (tags included)."""
        return len(self.tokenizer(self._prefix + text, verbose=False)["input_ids"])

    @property
    def max_source_tokens(self) -> int:
        """Longest input in tokens: the setting, else the model's position limit."""
        if self.settings.max_source_tokens:
            return self.settings.max_source_tokens
        limits = [getattr(self.model.config, "max_position_embeddings", None),
                  getattr(self.tokenizer, "model_max_length", None)]
        known = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
        return min(known) if known else 512

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of `lengths` grouped longest first, each group within the count and
        padded-token limits."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        groups: list[list[int]] = []
        for index in order:
            if groups:
                group = groups[-1]
                padded = lengths[group[0]] * (len(group) + 1)
                fits = padded <= self.settings.max_batch_tokens
                if len(group) < self.settings.batch_size and fits:
                    group.append(index)
                    continue
            groups.append([index])
        return groups

    def translate(self, sentences: Sequence[str]) -> list[str]:
        """Translations of `sentences`, in their order (batched by length)."""
        import torch

        inputs = [self._prefix + s for s in sentences]
        lengths = [self.count_tokens(s) for s in sentences]
        out: list[str] = [""] * len(inputs)
        for group in self.batches(lengths):
            batch = self.tokenizer([inputs[i] for i in group], return_tensors="pt",
                                   padding=True, truncation=True,
                                   max_length=self.max_source_tokens).to(self.device)
            longest = int(batch["input_ids"].shape[1])
            cap = int(longest * self.settings.max_new_tokens_ratio) + 8
            kwargs = {"max_new_tokens": min(cap, self.max_source_tokens),
                      "num_beams": self.settings.num_beams}
            kwargs.update(self.settings.generation)
            if self._forced_bos is not None:
                kwargs["forced_bos_token_id"] = self._forced_bos
            with torch.inference_mode():
                generated = self.model.generate(**batch, **kwargs)
            texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, text in zip(group, texts, strict=True):
                out[i] = text.strip()
        return out
