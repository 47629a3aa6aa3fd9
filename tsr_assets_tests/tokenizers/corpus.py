"""Small real corpora for tokenizer tests: offline-writer stories in each language."""

from __future__ import annotations

from functools import cache

from tsr_assets.core.languages import get_language
from tsr_assets.prompts.wordlists import load_wordlists
from tsr_assets.stories.offline_writer import load_sentence_banks, write_offline_story

LANGUAGES = ("hindi", "marathi", "bengali")


@cache
def stories(language: str, count: int = 60) -> tuple[str, ...]:
    """`count` offline stories in `language`, with varied prompt words."""
    lang = get_language(language)
    banks = load_sentence_banks(lang.package_data_dir)
    lists = load_wordlists(lang.package_data_dir, lang)
    return tuple(
        write_offline_story(
            f"{i:016x}",
            lists.nouns[i % len(lists.nouns)],
            lists.verbs[(7 * i) % len(lists.verbs)],
            lists.adjectives[(3 * i) % len(lists.adjectives)],
            i % len(lists.features),
            banks,
        )
        for i in range(count)
    )
