"""Translating a set of stories (English, or another registered language) into a language's
translated-story store.

The store is the story store (`stories/store.py`) under `translated_stories/<language>/`:
`prompt_id` holds the story's `source_id`, `source_chars` the length of the source and
`source_language` the language it was translated from.
Finished translations, rejections and failures are journaled as they arrive and compacted
into parquet, so a kill loses at most the batch in flight and a rerun continues: a source
id that has a translation or a recorded failure is not sent again (`retry_failed` sends the
failed ones again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from tsr_assets.core.journal import Journal
from tsr_assets.core.languages import Language
from tsr_assets.llm.circuit_breaker import CircuitBreaker
from tsr_assets.llm.generation_runs import GenerationRun, outcome_of
from tsr_assets.llm.request_runner import Outcome, RequestItem, RunnerSettings
from tsr_assets.llm.sending import send_all
from tsr_assets.llm.sources import ChatSource
from tsr_assets.prompts.templates import answer_token_limit
from tsr_assets.stories.generation import journal_outcome, journal_rejection, usage_fields
from tsr_assets.stories.parsing import snippet
from tsr_assets.stories.store import compact, now_utc, open_journal, read_table, stored_prompt_ids
from tsr_assets.translation.sentence_split import join_pieces, split_story
from tsr_assets.translation.seq2seq import Seq2SeqTranslator
from tsr_assets.translation.source_stories import SourceStory
from tsr_assets.translation.translation_gates import (
    TranslationLimits,
    validate_translation,
    validate_translation_answer,
)

STAGE = "translated_stories"


def pending_stories(folder: Path, stories: Iterable[SourceStory], limit: int | None,
                    retry_failed: bool = False) -> Iterator[SourceStory]:
    """The first `limit` stories of the source that have no translation (nor a recorded
    failure, unless `retry_failed`), each source id once."""
    done = stored_prompt_ids(folder)
    if not retry_failed:
        done |= set(read_table(folder, "failure", ["prompt_id"])["prompt_id"].to_list())
    seen: set[str] = set()
    for story in islice(stories, limit):
        if story.source_id in done or story.source_id in seen:
            continue
        seen.add(story.source_id)
        yield story


def _chunks(stories: Iterator[SourceStory], size: int) -> Iterator[list[SourceStory]]:
    while chunk := list(islice(stories, size)):
        yield chunk


def _journal_translation(journal: Journal, story: SourceStory, text: str, provider: str,
                         model: str, seconds: float, source_language: str) -> None:
    journal.write({"kind": "story", "prompt_id": story.source_id, "story": text,
                   "provider": provider, "model": model, "attempts": 1,
                   "latency_s": round(seconds, 4), "source_chars": len(story.text),
                   "source_language": source_language, "created_at": now_utc()})


def _journal_rejected(journal: Journal, story: SourceStory, reason: str, text: str) -> None:
    journal.write({"kind": "rejection", "prompt_id": story.source_id, "attempt": 1,
                   "reason": reason, "snippet": snippet(text), "created_at": now_utc()})
    journal.write({"kind": "failure", "prompt_id": story.source_id, "attempts": 1,
                   "reason": reason, "created_at": now_utc()})


def translate_with_model(
    language: Language,
    folder: Path,
    stories: Iterable[SourceStory],
    translator: Seq2SeqTranslator,
    limits: TranslationLimits,
    limit: int | None = None,
    retry_failed: bool = False,
    stories_per_chunk: int = 128,
    log: Callable[[str], None] = print,
) -> GenerationRun:
    """Translate with a local seq2seq model: stories are split into sentences (pieces within
    the model's input limit), the sentences of `stories_per_chunk` stories are translated in
    length-sorted batches and rejoined per story, gated, and journaled chunk by chunk."""
    compact(folder)
    provider, model = "seq2seq", translator.settings.model
    run = GenerationRun(STAGE, provider, model)
    started = time.monotonic()
    sentences = 0
    journal = open_journal(folder)
    try:
        for chunk in _chunks(pending_stories(folder, stories, limit, retry_failed),
                             stories_per_chunk):
            chunk_started = time.monotonic()
            pieces = [split_story(i, s.text, translator.max_source_tokens,
                                  translator.count_tokens, translator.source_terminators)
                      for i, s in enumerate(chunk)]
            flat = [p for story_pieces in pieces for p in story_pieces]
            translated = iter(translator.translate([p.text for p in flat]))
            seconds = (time.monotonic() - chunk_started) / len(chunk)
            sentences += len(flat)
            for story, story_pieces in zip(chunk, pieces, strict=True):
                text = join_pieces(story_pieces, list(islice(translated, len(story_pieces))))
                run.requested += 1
                clean, reason = validate_translation(text, story.text, language, limits)
                if clean is None:
                    run.rejections[reason] = run.rejections.get(reason, 0) + 1
                    _journal_rejected(journal, story, reason, text)
                else:
                    run.generated += 1
                    _journal_translation(journal, story, clean, provider, model, seconds,
                                         translator.source.key)
            log(f"{language.key}: {run.requested:,} stories translated ({run.generated:,} "
                f"kept), {sentences / (time.monotonic() - started):,.1f} sentences/s")
    finally:
        journal.close()
        compact(folder)
    run.seconds = time.monotonic() - started
    run.failures = dict(run.rejections)
    run.outcome, run.error = outcome_of(CircuitBreaker(), run.requested, run.generated)
    if run.failed:
        run.error = (f"none of {run.requested:,} translations passed the gates; rejections by "
                     f"reason: {run.rejections}")
    return run


TRANSLATION_PROMPT = """Translate this children's story from {source} into {language} \
({script} script).
- Keep every character's name, and write the names in {script} letters.
- Keep it simple and warm: short sentences and everyday words a child of five to seven knows.
- Translate everything, leave nothing in {source}, add nothing and explain nothing.
Answer with JSON only, exactly like this: {{"story": "<the {language} story>"}}

Story:
{story}"""


def translation_prompt(language: Language, story: str, source: Language | None = None) -> str:
    """The LLM translator's prompt for one story (from English unless `source` says)."""
    return TRANSLATION_PROMPT.format(
        source=source.display_name if source else "English", language=language.display_name,
        script=language.script, story=story.strip())


def translation_token_limit(story: str) -> int:
    """`max_tokens` for the translation of `story` (Indic output takes more tokens)."""
    return answer_token_limit(2 * len(story.split()))


def translate_with_llm(
    language: Language,
    folder: Path,
    stories: Iterable[SourceStory],
    make_source: Callable[[int], ChatSource],
    settings: RunnerSettings,
    limits: TranslationLimits,
    limit: int | None = None,
    retry_failed: bool = False,
    log: Callable[[str], None] = print,
    source_language: Language | None = None,
) -> GenerationRun:
    """Translate with any chat endpoint through the request runner (rate limits, retries,
    circuit breaker, usage and cost as for stories). `make_source(max_tokens)` opens the
    endpoint, with room for the longest pending story's translation; the prompt names
    `source_language` (English when None)."""
    compact(folder)
    todo = list(pending_stories(folder, stories, limit, retry_failed))
    source = make_source(max((translation_token_limit(s.text) for s in todo), default=256))
    by_id = {s.source_id: s for s in todo}
    items = [RequestItem(s.source_id, translation_prompt(language, s.text, source_language))
             for s in todo]
    provider, model = source.provider, source.model
    log(f"{language.key}: {len(todo):,} stories to translate with {provider} ({model})")
    record = GenerationRun(STAGE, provider, model, requested=len(items))

    def validate(raw: str, item: RequestItem) -> tuple[str | None, str | None, str]:
        story, reason = validate_translation_answer(raw, by_id[item.prompt_id].text, language,
                                                    limits)
        return story, reason, snippet(raw)

    journal = open_journal(folder)

    def on_outcome(outcome: Outcome) -> None:
        if outcome.result is None:
            journal_outcome(journal, provider, model, outcome)
            return
        journal.write({"kind": "story", "prompt_id": outcome.prompt_id, "story": outcome.result,
                       "provider": provider, "model": model, "attempts": outcome.attempts,
                       "latency_s": round(outcome.latency_s, 4), **usage_fields(outcome.usage),
                       "source_chars": len(by_id[outcome.prompt_id].text),
                       "source_language": (source_language.key if source_language
                                           else "english"),
                       "created_at": now_utc()})

    try:
        stats = send_all(items, source, validate, settings, total=len(items),
                         on_outcome=on_outcome,
                         on_rejection=lambda r: journal_rejection(journal, r), log=log,
                         state_dir=folder)
    finally:
        journal.close()
        compact(folder)
    return record.conclude(stats)

