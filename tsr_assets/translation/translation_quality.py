"""How good a translator is before a corpus is built with it: it translates the source
language's evaluation openers, and the output is scored against the target language's openers
(line k of every packaged openers file means the same) with chrF++ (`sacrebleu`, character
6-grams plus word bigrams), beside the share of outputs that pass the translation gates.

chrF++ is on a 0-100 scale; it needs no model, so it runs offline on any machine. Openers are
single sentences, so the gates are checked without the story length limits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tsr_assets.core.languages import Language
from tsr_assets.llm.request_runner import RequestItem, RunnerSettings, run_requests
from tsr_assets.llm.sources import ChatSource
from tsr_assets.stories.parsing import extract_story, snippet
from tsr_assets.translation.translating import translation_prompt, translation_token_limit
from tsr_assets.translation.translation_gates import TranslationLimits, validate_translation


def chrf_pp(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF++ (0-100) of `hypotheses` against one reference each."""
    from sacrebleu.metrics import CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} translations for {len(references)} references")
    return float(CHRF(word_order=2).corpus_score(list(hypotheses), [list(references)]).score)


@dataclass(frozen=True)
class QualityReport:
    """A translator's scores on the parallel openers."""

    openers: int
    translated: int
    chrf_pp: float
    gate_pass_share: float
    rejections: dict[str, int]
    examples: list[tuple[str, str, str]]  # (source, translation, reference), a few

    def row(self) -> dict:
        """The report as warehouse columns."""
        return {"openers": self.openers, "translated": self.translated,
                "chrf_pp": self.chrf_pp, "gate_pass_share": self.gate_pass_share,
                "rejections_by_reason": str(self.rejections)}


def score_translations(sources: Sequence[str], translations: Sequence[str | None],
                       references: Sequence[str], target: Language,
                       limits: TranslationLimits) -> QualityReport:
    """chrF++ of `translations` (None: nothing came back, scored as empty) against
    `references`, and the share that pass the gates (story lengths aside)."""
    sentence_limits = dataclasses.replace(
        limits, story=dataclasses.replace(limits.story, min_chars=1))
    rejections: dict[str, int] = {}
    passed = 0
    for source, text in zip(sources, translations, strict=True):
        reason = "no_answer" if text is None else validate_translation(
            text, source, target, sentence_limits)[1]
        if reason is None:
            passed += 1
        else:
            rejections[reason] = rejections.get(reason, 0) + 1
    outputs = [t or "" for t in translations]
    return QualityReport(
        openers=len(sources), translated=sum(t is not None for t in translations),
        chrf_pp=chrf_pp(outputs, references), gate_pass_share=passed / max(1, len(sources)),
        rejections=rejections, examples=list(zip(sources, outputs, references, strict=True))[:3])


def translate_with_chat(sentences: Sequence[str], target: Language, source: Language,
                        make_source: Callable[[int], ChatSource], settings: RunnerSettings,
                        log: Callable[[str], None] = print) -> list[str | None]:
    """Each sentence through the LLM translator's prompt; the answer's text, or None."""
    chat = make_source(max(translation_token_limit(s) for s in sentences))
    items = [RequestItem(str(i), translation_prompt(target, s, source))
             for i, s in enumerate(sentences)]
    answers: dict[str, str | None] = {}

    def validate(raw: str, item: RequestItem) -> tuple[str | None, str | None, str]:
        text = extract_story(raw)
        return text, None if text else "no_json", snippet(raw)

    async def run() -> None:
        try:
            await run_requests(items, lambda item: chat.complete(item.prompt), validate,
                               settings, total=len(items),
                               on_outcome=lambda o: answers.__setitem__(o.prompt_id, o.result),
                               log=log)
        finally:
            await chat.close()

    asyncio.run(run())
    return [answers.get(str(i)) for i in range(len(sentences))]
