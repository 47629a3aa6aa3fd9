"""The offline story writer and its sentence banks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tsr_assets.core.languages import BUILTIN_LANGUAGES, Language, get_language
from tsr_assets.prompts.wordlists import Wordlists, load_wordlists
from tsr_assets.stories.offline_writer import (
    BANK_FILES,
    PROVIDER_NAME,
    SentenceBankError,
    SentenceBanks,
    fill_template,
    load_sentence_banks,
    write_offline_story,
)
from tsr_assets.stories.parsing import validate_story

LANGUAGE_KEYS = [lang.key for lang in BUILTIN_LANGUAGES]
PROMPT_IDS = [f"{i:016x}" for i in range(0, 200 * 7919, 7919)]
#: How many of the first 50 ids get a four-paragraph story from `_small_banks` (seeded).
FOUR_PARAGRAPH_STORIES = 22


def _packaged(key: str) -> tuple[Language, SentenceBanks, Wordlists]:
    language = get_language(key)
    banks = load_sentence_banks(language.package_data_dir)
    wordlists = load_wordlists(language.package_data_dir, language)
    return language, banks, wordlists


def _words(wordlists: Wordlists, i: int) -> tuple[str, str, str, int]:
    """The i-th (noun, verb, adjective, feature index) combination, cycling through the lists."""
    return (
        wordlists.nouns[i % len(wordlists.nouns)],
        wordlists.verbs[(i * 7) % len(wordlists.verbs)],
        wordlists.adjectives[(i * 13) % len(wordlists.adjectives)],
        i % len(wordlists.features),
    )


def _small_banks(**changes: object) -> SentenceBanks:
    fields: dict[str, object] = {
        "openings": ("{name} के पास एक {adjective} {noun} था।",),
        "middles": ("{name} को {verb} पसंद था।", "फिर {name} ने {verb} सीखा।"),
        "endings": ("{name} सो गया।",),
        "tone_lines": ("सब खुश थे।", "सब उदास थे।"),
        "names": (("आरव", "m"), ("मीरा", "f")),
    }
    fields.update(changes)
    return SentenceBanks(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Packaged banks and stories


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_packaged_banks_load_and_match_the_features(key: str) -> None:
    _, banks, wordlists = _packaged(key)
    assert len(banks.openings) >= 30
    assert len(banks.middles) >= 30
    assert len(banks.endings) >= 20
    assert len(banks.tone_lines) == len(wordlists.features)
    assert {gender for _, gender in banks.names} == {"m", "f"}


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_stories_use_the_words_and_pass_validation(key: str) -> None:
    language, banks, wordlists = _packaged(key)
    paragraph_counts = set()
    for i, prompt_id in enumerate(PROMPT_IDS):
        noun, verb, adjective, feature = _words(wordlists, i)
        story = write_offline_story(
            prompt_id, noun, verb, adjective, feature, banks, feature_count=len(wordlists.features)
        )
        assert noun in story and verb in story and adjective in story
        assert "{" not in story and "}" not in story and "|" not in story
        paragraphs = story.split("\n\n")
        assert 3 <= len(paragraphs) <= 4
        assert all(p.strip() == p and p for p in paragraphs)
        paragraph_counts.add(len(paragraphs))
        assert noun in paragraphs[0] and adjective in paragraphs[0]
        assert verb in paragraphs[1]

        cleaned, reason = validate_story(json.dumps({"story": story}, ensure_ascii=False), language)
        assert reason is None, (reason, story)
        assert cleaned == story
    assert paragraph_counts == {3, 4}


@pytest.mark.parametrize("key", LANGUAGE_KEYS)
def test_last_paragraph_starts_with_the_features_tone_line(key: str) -> None:
    _, banks, wordlists = _packaged(key)
    noun, verb, adjective, _ = _words(wordlists, 0)
    for feature, tone_line in enumerate(banks.tone_lines):
        story = write_offline_story(f"tone-{feature}", noun, verb, adjective, feature, banks)
        last = story.split("\n\n")[-1]
        filled = [
            fill_template(
                tone_line, {"name": name, "noun": noun, "verb": verb, "adjective": adjective}, g
            )
            for name, g in banks.names
        ]
        assert any(last.startswith(line + " ") for line in filled), (feature, last)


def test_deterministic_per_prompt_id() -> None:
    _, banks, wordlists = _packaged("hindi")
    noun, verb, adjective, feature = _words(wordlists, 3)
    first = write_offline_story("abc123", noun, verb, adjective, feature, banks)
    reloaded = load_sentence_banks(get_language("hindi").package_data_dir)
    assert write_offline_story("abc123", noun, verb, adjective, feature, reloaded) == first
    assert write_offline_story("abc124", noun, verb, adjective, feature, banks) != first


def test_same_story_in_another_process() -> None:
    """Choices must not depend on Python's per-process string hash salt."""
    args = ("घर", "खेलना", "सुंदर", 4)
    code = (
        "import sys; from tsr_assets.core.languages import get_language; "
        "from tsr_assets.stories.offline_writer import load_sentence_banks, "
        "write_offline_story as w; "
        "b = load_sentence_banks(get_language('hindi').package_data_dir); "
        f"sys.stdout.buffer.write('\\0'.join(w(p, *{args!r}, b) for p in {PROMPT_IDS[:20]!r})"
        ".encode())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env, timeout=120
    )
    banks = load_sentence_banks(get_language("hindi").package_data_dir)
    here = [write_offline_story(p, *args, banks) for p in PROMPT_IDS[:20]]
    assert result.stdout.decode().split("\0") == here


def test_different_prompt_ids_choose_different_sentences() -> None:
    _, banks, wordlists = _packaged("marathi")
    noun, verb, adjective, feature = _words(wordlists, 5)
    stories = [
        write_offline_story(pid, noun, verb, adjective, feature, banks) for pid in PROMPT_IDS
    ]
    # Same words for every id, so any difference comes from the sentence and name choices.
    assert len(set(stories)) >= 0.9 * len(stories)
    openings = {story.split("\n\n")[0] for story in stories}
    endings = {story.split("\n\n")[-1] for story in stories}
    assert len(openings) >= 20
    assert len(endings) >= 15


def test_the_two_middles_differ() -> None:
    banks = _small_banks()
    stories = [write_offline_story(pid, "घर", "खेलना", "सुंदर", 0, banks).split("\n\n")
               for pid in PROMPT_IDS[:50]]
    four = [paragraphs for paragraphs in stories if len(paragraphs) == 4]
    # About half the stories have two middles (these 50 ids: a fixed count, by seed).
    assert len(four) == FOUR_PARAGRAPH_STORIES
    assert {len(paragraphs) for paragraphs in stories} == {3, 4}
    assert all(paragraphs[1] != paragraphs[2] for paragraphs in four)


def test_gender_alternations_follow_the_name() -> None:
    banks = _small_banks(
        openings=("{name} {m:BOY1|f:GIRL1} {adjective} {noun}।",),
        middles=("{name} {m:BOY2|f:GIRL2} {verb}।",),
        endings=("{m:|f:GIRL3}{name}।",),
        tone_lines=("{m:BOY4|f:GIRL4} {name}।",),
        names=(("आरव", "m"), ("मीरा", "f")),
    )
    seen = set()
    for pid in PROMPT_IDS[:40]:
        story = write_offline_story(pid, "घर", "खेलना", "सुंदर", 0, banks)
        if "आरव" in story:
            seen.add("m")
            assert all(f"BOY{n}" in story for n in (1, 2, 4))
            assert "GIRL" not in story
        else:
            seen.add("f")
            assert "मीरा" in story
            assert all(f"GIRL{n}" in story for n in (1, 2, 3, 4))
            assert "BOY" not in story
    assert seen == {"m", "f"}


def test_fill_template_is_a_single_pass() -> None:
    values = {"name": "{noun}", "noun": "घर", "verb": "v", "adjective": "a"}
    assert fill_template("{name} {noun} {m:x|f:y}", values, "f") == "{noun} घर y"


def test_feature_index_and_count_are_checked() -> None:
    banks = _small_banks()
    with pytest.raises(ValueError, match="out of range"):
        write_offline_story("p", "घर", "खेलना", "सुंदर", 2, banks)
    with pytest.raises(ValueError, match="out of range"):
        write_offline_story("p", "घर", "खेलना", "सुंदर", -1, banks)
    with pytest.raises(ValueError, match="2 tone lines but there are 15 features"):
        write_offline_story("p", "घर", "खेलना", "सुंदर", 0, banks, feature_count=15)
    write_offline_story("p", "घर", "खेलना", "सुंदर", 1, banks, feature_count=2)


def test_provider_name() -> None:
    assert PROVIDER_NAME == "offline-template"


def test_banks_check_their_lines_on_construction() -> None:
    with pytest.raises(SentenceBankError, match="missing slot"):
        _small_banks(middles=("{name} खेला।",))
    with pytest.raises(SentenceBankError, match="unknown slot"):
        _small_banks(endings=("{place} में {name}।",))
    with pytest.raises(SentenceBankError, match="gender"):
        _small_banks(names=(("आरव", "x"),))


# ---------------------------------------------------------------------------------------------
# Loading bank files


@pytest.fixture
def bank_folder(tmp_path: Path) -> Path:
    """A copy of the packaged Hindi sentence banks, to break one file at a time."""
    source = get_language("hindi").package_data_dir
    for name in BANK_FILES.values():
        shutil.copy(source / name, tmp_path / name)
    return tmp_path


def _append(path: Path, line: str) -> int:
    """Append `line` to `path` and return its line number."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


def test_loader_skips_comments_blanks_and_normalizes(bank_folder: Path) -> None:
    path = bank_folder / "story_endings.txt"
    before = load_sentence_banks(bank_folder).endings
    decomposed = "\u09ac\u09c7\u09be\u09a8"  # NFC composes it
    text = "\ufeff# comment\r\n\r\n   \r\n" + path.read_text(encoding="utf-8")
    path.write_text(text + f"  {{name}} {decomposed}  \r\n# trailing\n", encoding="utf-8")
    endings = load_sentence_banks(bank_folder).endings
    assert endings == (*before, "{name} \u09ac\u09cb\u09a8")


@pytest.mark.parametrize(
    "line",
    ["मीरा", "मीरा\tx", "मीरा\tm\tf", "\tm", "मीरा m"],
    ids=["no-gender", "bad-gender", "extra-field", "no-name", "space-not-tab"],
)
def test_malformed_names_line_names_file_and_line(bank_folder: Path, line: str) -> None:
    lineno = _append(bank_folder / "names.txt", line)
    with pytest.raises(ValueError, match=rf"names\.txt, line {lineno}:"):
        load_sentence_banks(bank_folder)


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        ("story_openings.txt", "{name} का {color} {adjective} {noun}।", "unknown slot"),
        ("story_middles.txt", "{name} ने {Verb} {verb} किया।", "unknown slot"),
        ("story_endings.txt", "{name} {m:गया|लौटा}।", "unknown slot"),
        ("tone_lines.txt", "{name} {m:गया|f:गई।", "unbalanced"),
        ("story_endings.txt", "{name} गया}।", "unbalanced"),
        ("story_openings.txt", "{name} के पास एक {noun} था।", r"missing slot \{adjective\}"),
        ("story_middles.txt", "{name} खुश था।", r"missing slot \{verb\}"),
    ],
)
def test_bad_slots_name_file_and_line(
    bank_folder: Path, file: str, line: str, message: str
) -> None:
    lineno = _append(bank_folder / file, line)
    with pytest.raises(ValueError, match=rf"{re.escape(file)}, line {lineno}: .*{message}"):
        load_sentence_banks(bank_folder)


def test_too_few_lines(bank_folder: Path) -> None:
    path = bank_folder / "story_endings.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="fewer than the minimum 20"):
        load_sentence_banks(bank_folder)


def test_missing_file_and_bad_encoding(bank_folder: Path) -> None:
    (bank_folder / "tone_lines.txt").write_bytes(b"{name} \xff\xfe\n")
    with pytest.raises(ValueError, match=r"tone_lines\.txt, line 1: not valid UTF-8"):
        load_sentence_banks(bank_folder)
    (bank_folder / "tone_lines.txt").unlink()
    with pytest.raises(ValueError, match=r"tone_lines\.txt: file not found"):
        load_sentence_banks(bank_folder)
