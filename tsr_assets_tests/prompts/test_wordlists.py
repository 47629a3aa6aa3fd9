"""Parsing wordlist files: encodings, line ends, comments, duplicates, scripts, errors."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.prompts.wordlists import (
    WORDLIST_FILES,
    WordlistError,
    WordlistPolicies,
    load_wordlists,
    parse_wordlist_text,
    read_wordlist_file,
    wordlist_problems,
)

HINDI = get_language("hindi")
BENGALI = get_language("bengali")


def test_bom_crlf_blank_lines_comments_and_trailing_spaces(tmp_path: Path) -> None:
    path = tmp_path / "nouns.txt"
    text = "\ufeff# nouns\r\nघर  \r\n\r\n  पानी\t\r\n# another comment\r\nफूल\r\n"
    path.write_bytes(text.encode())
    assert read_wordlist_file(path, HINDI).entries == ["घर", "पानी", "फूल"]


def test_entries_are_nfc_normalized() -> None:
    # "বোন" with the vowel sign o written as its two parts (e + aa); NFC joins them.
    decomposed = "\u09ac\u09c7\u09be\u09a8"
    composed = "\u09ac\u09cb\u09a8"
    assert unicodedata.normalize("NFC", decomposed) == composed
    assert parse_wordlist_text(decomposed, source="x.txt", language=BENGALI).entries == [composed]


def test_duplicate_after_normalization_names_both_lines() -> None:
    nfc = "\u0929\u092f\u093e"  # "ऩया" with the precomposed letter nnna
    nfd = "\u0928\u093c\u092f\u093e"  # the same with na + nukta; NFC composes it
    assert nfc != nfd and unicodedata.normalize("NFC", nfd) == nfc
    parsed = parse_wordlist_text(f"{nfc}\nघर\n{nfd}  \n", source="nouns.txt", language=HINDI)
    assert parsed.entries == [nfc, "घर"]
    (problem,) = parsed.problems
    assert problem.kind == "duplicate"
    assert str(problem).startswith(f"nouns.txt, line 3: {nfc!r}: duplicates line 1")


def test_wrong_script_names_file_line_and_character() -> None:
    parsed = parse_wordlist_text("घर\nবাড়ি\n", source="nouns.txt", language=HINDI)
    message = str(parsed.problems[0])
    assert "nouns.txt, line 2" in message
    assert "Devanagari" in message and "U+09AC" in message


def test_latin_letters_in_native_list_are_rejected() -> None:
    parsed = parse_wordlist_text("tree\n", source="nouns.txt", language=HINDI)
    assert "line 1: 'tree'" in str(parsed.problems[0]) and not parsed.entries


def test_english_features_must_be_latin() -> None:
    assert parse_wordlist_text("a happy ending\n", source="f.txt", language=None).entries == [
        "a happy ending"
    ]
    assert "not a Latin letter" in str(
        parse_wordlist_text("खुशी\n", source="f.txt", language=None).problems[0])


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    _write_folder(tmp_path, verbs="# only a comment\n\n   \n")
    with pytest.raises(WordlistError, match="verbs has no usable entries"):
        load_wordlists(tmp_path, HINDI)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "verbs.txt"
    path.write_bytes("खेलना\n".encode() + b"\xff\xfe bad\n")
    with pytest.raises(WordlistError, match=r"verbs.txt, line 2: not valid UTF-8"):
        read_wordlist_file(path, HINDI)


def _write_folder(folder: Path, **overrides: str) -> None:
    contents = {
        "nouns": "घर\nपानी\n",
        "verbs": "खेलना\nदौड़ना\n",
        "adjectives": "लाल\nसुंदर\n",
        "features": "खुशहाल अंत\nनैतिक सीख\n",
        "features_en": "a happy ending\na moral lesson\n",
    }
    contents.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    for name, file in WORDLIST_FILES.items():
        (folder / file).write_text(contents[name], encoding="utf-8")


def test_load_folder_and_combination_count(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    lists = load_wordlists(tmp_path, HINDI)
    assert lists.counts() == {
        "nouns": 2, "verbs": 2, "adjectives": 2, "features": 2, "features_en": 2
    }
    assert lists.combination_count == 16


def test_missing_file_names_the_expected_files(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    (tmp_path / "verbs.txt").unlink()
    with pytest.raises(WordlistError, match=r"no verbs.txt \(or hindi-verbs.txt\)"):
        load_wordlists(tmp_path, HINDI)


def test_unaligned_features_load_and_are_flagged(tmp_path: Path) -> None:
    _write_folder(tmp_path, features_en="a happy ending\n")
    lists = load_wordlists(tmp_path, HINDI)
    assert not lists.features_aligned and lists.counts()["features"] == 2


def test_problems_report_script_duplicates_and_counts() -> None:
    lists = {
        "nouns": ["घर", "घर", "tree"],
        "verbs": ["खेलना"],
        "adjectives": ["लाल"],
        "features": ["खुशहाल अंत"],
        "features_en": ["a happy ending"],
    }
    problems = wordlist_problems(lists, HINDI, min_counts={"nouns": 3, "verbs": 2})
    assert any("appears more than once" in p for p in problems)
    assert any("'tree'" in p and "Devanagari" in p for p in problems)
    assert any(p.startswith("verbs: 1 entries, fewer than the minimum 2") for p in problems)
    assert not any(p.startswith("nouns:") and "minimum" in p for p in problems)
    ok = {k: v[:1] for k, v in lists.items()}
    assert wordlist_problems(ok, HINDI, min_counts={}) == []


def _write_named(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_the_research_groups_naming_scheme_and_quotes(tmp_path: Path) -> None:
    _write_named(tmp_path, {
        "hindi-nouns.txt": "घर\n\"पानी\"\n",
        "hindi-verbs.txt": "खेलना\nदौड़ना\n",
        "hindi-adjectives.txt": "लाल\n“सुंदर”\n",
        "hindi-features.txt": "खुशहाल अंत\nनैतिक सीख\n",
        "english-features.txt": '"a happy ending"\n"a lesson, gently told!"\n',
    })
    lists = load_wordlists(tmp_path, HINDI)
    assert lists.nouns == ("घर", "पानी") and lists.adjectives == ("लाल", "सुंदर")
    # Quotes around an entry go; punctuation inside a feature stays.
    assert lists.features_en == ("a happy ending", "a lesson, gently told!")


def test_a_folder_with_five_problems_reports_all_five_at_once(tmp_path: Path) -> None:
    _write_folder(
        tmp_path,
        nouns="घर\nघर (house)\nपानी\n",            # 1: a parenthetical note in Latin letters
        verbs="खेलना\nplay\nदौड़ना\n",               # 2: an English verb
        adjectives="लाल\nলাল\nसुंदर\nलाल\n",          # 3: Bengali script; a duplicate (dropped)
        features="खुशहाल अंत\nनैतिक सीख\nhappy\n",   # 4: Latin letters in a native feature
        features_en="a happy ending\nथोड़ा\n",        # 5: Devanagari in an English feature
    )
    with pytest.raises(WordlistError) as err:
        load_wordlists(tmp_path, HINDI)
    assert str(err.value).startswith("5 problems:")
    assert err.value.problems[0].startswith(f"{tmp_path / 'nouns.txt'}, line 2: 'घर (house)'")
    for fragment in ("verbs.txt, line 2: 'play'", "adjectives.txt, line 2: 'লাল'",
                     "features.txt, line 3: 'happy'", "features_en.txt, line 2: 'थोड़ा'"):
        assert fragment in str(err.value)
    assert "duplicates" not in str(err.value)  # dropped by the default policy, not an error


def test_policies_drop_or_fail(tmp_path: Path) -> None:
    _write_folder(tmp_path, nouns="घर\nघर\nघर (house)\nपानी\n")
    with pytest.raises(WordlistError, match="'घर \\(house\\)'"):
        load_wordlists(tmp_path, HINDI)
    lists = load_wordlists(tmp_path, HINDI, WordlistPolicies(on_invalid="drop"))
    assert lists.nouns == ("घर", "पानी")
    assert [(p.line, p.kind) for p in lists.dropped] == [(2, "duplicate"), (3, "invalid")]
    with pytest.raises(WordlistError, match="line 2: 'घर': duplicates line 1"):
        load_wordlists(tmp_path, HINDI, WordlistPolicies(on_duplicate="error",
                                                          on_invalid="drop"))
    with pytest.raises(ValueError, match="on_invalid must be 'drop' or 'error'"):
        WordlistPolicies(on_invalid="ignore")
