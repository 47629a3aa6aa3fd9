"""MorphScore gold lists: read as published (cells as they are, inconsistent rows kept and
named), errors only for rows that cannot be read, and the packaged lists."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from tsr_assets.core.languages import (
    Language,
    get_language,
    register_language,
    unregister_language,
)
from tsr_assets.tokenizers.morph_gold import (
    GoldWord,
    MorphGoldError,
    load_morph_gold,
    packaged_morph_gold,
    unmatchable_reason,
    unmatchable_words,
)

PACKAGED = ("hindi", "marathi", "bengali", "english")


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def test_extra_columns_and_an_index_column_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv",
                  ",full_word,note,pt1,rest\n0,walked,past,walk,ed\n1,लड़कों,pl,लड़क,ों\n\n")
    words = load_morph_gold(path)
    assert words == [GoldWord("walked", "walk", "ed"), GoldWord("लड़कों", "लड़क", "ों")]
    assert [w.line for w in words] == [2, 3]


def test_the_originals_column_order_with_an_index(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "index,full_word,pt1,rest\n0,घरों,घर,ों\n")
    assert load_morph_gold(path) == [GoldWord("घरों", "घर", "ों")]


def test_a_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,pt1,rest\r\nwalked,walk,ed\r\n", bom=True)
    assert load_morph_gold(path) == [GoldWord("walked", "walk", "ed")]


def test_cells_are_kept_as_published(tmp_path: Path) -> None:
    # No NFC and no stripping: the original compares the cells as pandas reads them.
    decomposed = unicodedata.normalize("NFD", "বোন")
    assert decomposed != "বোন"
    path = _write(tmp_path / "gold.csv",
                  f"full_word,pt1,rest\n{decomposed}কে,{decomposed},কে\nপাখি,পাখ ,ি\n")
    words = load_morph_gold(path)
    assert words == [GoldWord(f"{decomposed}কে", decomposed, "কে"),
                     GoldWord("পাখি", "পাখ ", "ি")]
    assert words[0].spelled and not words[1].spelled


def test_inconsistent_rows_are_kept_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", ",full_word,pt1,rest\n"
                  "0,walked,walk,ed\n"        # line 2: spells the word
                  "1,मनोहर,मनो,रम\n"          # line 3: sandhi, मनो + रम = मनोरम
                  "2,jumped,jump ,ed\n"       # line 4: a trailing space in pt1
                  "3,played,,played\n"        # line 5: empty pt1
                  "4,বোনকে,বোন,কে \n")          # line 6: a trailing space in rest
    words = load_morph_gold(path)
    assert len(words) == 5
    named = [(word.line, reason) for word, reason in unmatchable_words(words)]
    assert named == [(3, "pt1 + rest is मनोरम"), (4, "space around pt1"), (5, "empty pt1"),
                     (6, "space around rest")]
    nfd = GoldWord("বোনকে", unicodedata.normalize("NFD", "বোন"), "কে")
    assert unmatchable_reason(nfd) == "spells full_word only after NFC normalization"
    assert unmatchable_reason(words[0]) is None


def test_unreadable_rows_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,pt1,rest\n"
                  "walked,walk,ed\n"     # line 2: fine
                  "jumped,jump,d\n"      # line 3: inconsistent, kept
                  " ,play,ed\n"          # line 4: empty full_word
                  "looks,look\n")        # line 5: a cell short
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(path)
    message = str(caught.value)
    assert str(path) in message and "2 problems" in message
    assert "line 4: empty full_word" in message
    assert "line 5" in message and "no rest" in message
    assert "line 2" not in message and "line 3" not in message


def test_a_missing_column_and_bad_rows_are_reported_together(tmp_path: Path) -> None:
    path = _write(tmp_path / "gold.csv", "full_word,stem,rest\nwalked,walk,ed\n,jump,ed\n"
                  "played,play,\n")
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 1" in message and "no column pt1" in message and "'stem'" in message
    assert "line 3: empty full_word" in message
    assert "line 4" not in message  # an empty rest is a row that scores 0, not an error


def test_a_long_problem_list_is_capped(tmp_path: Path) -> None:
    rows = "".join(f",x{i},y\n" for i in range(30))
    with pytest.raises(MorphGoldError) as caught:
        load_morph_gold(_write(tmp_path / "gold.csv", "full_word,pt1,rest\n" + rows))
    message = str(caught.value)
    assert "30 problems" in message and "and 10 more" in message
    assert "line 21" in message and "line 22:" not in message


def test_unreadable_and_empty_files_are_errors(tmp_path: Path) -> None:
    for text, expected in [("", "empty"), ("full_word,pt1,rest\n", "no word follows")]:
        with pytest.raises(MorphGoldError, match=expected):
            load_morph_gold(_write(tmp_path / "gold.csv", text))
    (tmp_path / "latin1.csv").write_bytes(b"full_word,pt1,rest\ncaf\xe9s,caf\xe9,s\n")
    with pytest.raises(MorphGoldError, match=r"line 2: not valid UTF-8"):
        load_morph_gold(tmp_path / "latin1.csv")
    with pytest.raises(MorphGoldError, match="cannot read"):
        load_morph_gold(tmp_path / "missing.csv")


@pytest.mark.parametrize("language", PACKAGED)
def test_packaged_gold_list_is_sound(language: str) -> None:
    lang = get_language(language)
    path = packaged_morph_gold(language)
    assert path == lang.package_data_dir / "morph_gold.csv"
    assert path.read_text(encoding="utf-8").startswith("full_word,pt1,rest\n")
    words = load_morph_gold(path)
    assert not unmatchable_words(words)  # the team's lists spell every word
    assert len(words) >= 160
    assert len({w.full_word for w in words}) == len(words), "duplicate words"
    for w in words:
        assert unicodedata.normalize("NFC", w.full_word) == w.full_word, w
        assert all(lang.in_script(c) for c in w.full_word), w
        assert w.pt1 and w.rest, w


def test_packaged_gold_of_unknown_or_missing_language(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown language"):
        packaged_morph_gold("klingon")
    register_language(Language(key="toy_lang", display_name="Toy", native_name="Toy",
                               script="Latin", script_ranges=((0x61, 0x7A),),
                               sentence_terminators=(".",), digits="0123456789",
                               data_dir=tmp_path))
    try:
        with pytest.raises(FileNotFoundError, match="no MorphScore gold list"):
            packaged_morph_gold("toy_lang")
        _write(tmp_path / "morph_gold.csv", "full_word,pt1,rest\ncats,cat,s\n")
        assert load_morph_gold(packaged_morph_gold("toy_lang")) == [GoldWord("cats", "cat", "s")]
    finally:
        unregister_language("toy_lang")


def test_morph_gold_does_not_import_dagster() -> None:
    code = ("import sys, tsr_assets.tokenizers.morph_gold; "
            "sys.exit('dagster' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
