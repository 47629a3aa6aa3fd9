"""The local seq2seq translator and the resumable translation run, with a tiny NLLB-shaped
model built by the test (random weights, tokenizer trained here, real `from_pretrained`)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tsr_assets.core.languages import Language, get_language, register_language, unregister_language
from tsr_assets.stories.parsing import StoryLimits
from tsr_assets.stories.store import read_table
from tsr_assets.translation.seq2seq import Seq2SeqSettings, Seq2SeqTranslator, TranslatorSetupError
from tsr_assets.translation.source_stories import SourceStory, iter_local_stories, source_id_of
from tsr_assets.translation.translating import pending_stories, translate_with_model
from tsr_assets.translation.translation_gates import TranslationLimits
from tsr_assets_tests.translation.tiny_seq2seq import build_tiny_seq2seq, english_story

HINDI = get_language("hindi")
#: Word salad from random weights runs long and never repeats a story's sentences; these
#: limits let its shape through so the mechanics can be tested (the gate test uses defaults).
LENIENT = TranslationLimits(StoryLimits(min_chars=20, max_chars=100_000,
                                        max_repeated_sentence_share=1.0,
                                        max_repeated_ngram_share=1.0, min_known_word_share=0.0),
                            length_ratio=(0.05, 20.0))


def translator(model: Path, **settings) -> Seq2SeqTranslator:
    return Seq2SeqTranslator(Seq2SeqSettings(str(model), **settings), HINDI)


def sources(n: int, seed: int = 0, sentences: int = 6) -> list[SourceStory]:
    rng = random.Random(seed)
    texts = [english_story(rng, sentences) for _ in range(n)]
    return [SourceStory(source_id_of(t), t) for t in texts]


def test_nllb_codes_come_from_the_language_registry(tiny_model: Path) -> None:
    tr = translator(tiny_model)
    assert tr.code_style == "nllb"
    assert tr.tokenizer.convert_ids_to_tokens(tr._forced_bos) == "hin_Deva"
    assert tr.max_source_tokens == 64  # the model's position limit


def test_unknown_target_code_is_a_clear_error(tiny_model: Path) -> None:
    tamil = register_language(Language(
        key="tamil_test", display_name="Tamil", native_name="தமிழ்", script="Tamil",
        script_ranges=((0x0B80, 0x0BFF),), sentence_terminators=(".",),
        digits="௦௧௨௩௪௫௬௭௮௯", iso_code="ta", translation_code="tam_Taml"))
    try:
        with pytest.raises(TranslatorSetupError, match="tam_Taml"):
            Seq2SeqTranslator(Seq2SeqSettings(str(tiny_model)), tamil)
    finally:
        unregister_language("tamil_test")
    with pytest.raises(TranslatorSetupError, match="could not be loaded"):
        Seq2SeqTranslator(Seq2SeqSettings(str(tiny_model / "missing")), HINDI)


def test_batches_are_sorted_by_length_and_bounded(tiny_model: Path) -> None:
    tr = translator(tiny_model, batch_size=3, max_batch_tokens=40)
    lengths = [5, 30, 7, 12, 12, 3, 9, 20]
    groups = tr.batches(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) <= 3 and lengths[group[0]] * len(group) <= 40
        assert [lengths[i] for i in group] == sorted((lengths[i] for i in group), reverse=True)


def test_translations_come_back_in_input_order(tiny_model: Path) -> None:
    # Greedy decoding of random weights runs to the length cap, which grows with the
    # input: one sentence per batch, the output lengths must follow the inputs' order.
    tr = translator(tiny_model, batch_size=1, max_new_tokens_ratio=1.0,
                    generation={"do_sample": False})
    sentences = ["Tom ran to the park and the dog went with him by the river .",
                 "Lily sang .", "The sun was bright and the birds sang .", "Tom laughed ."]
    out = tr.translate(sentences)
    inputs = [tr.count_tokens(s) for s in sentences]
    outputs = [len(t.split()) for t in out]
    assert sorted(range(4), key=inputs.__getitem__) == sorted(range(4), key=outputs.__getitem__)
    assert all(not any(c.isascii() and c.isalpha() for c in t) for t in out)


def test_long_stories_are_split_not_cut(tmp_path: Path, tiny_model: Path) -> None:
    """A story far over the model's 64-token input is translated sentence by sentence: its
    translation is longer than anything one 64-token input could produce."""
    tr = translator(tiny_model, max_new_tokens_ratio=1.0)
    [short] = sources(1, seed=3, sentences=30)
    run_on = " ".join(["the dog went to see the old tree by the river"] * 12) + "."
    story = SourceStory("long", short.text + " " + run_on.capitalize())
    assert tr.count_tokens(run_on) > 2 * tr.max_source_tokens  # one sentence over the limit
    assert tr.count_tokens(story.text) > 5 * tr.max_source_tokens
    run = translate_with_model(HINDI, tmp_path, [story], tr, LENIENT, log=lambda _: None)
    assert run.generated == 1
    stored = read_table(tmp_path)["story"][0]
    assert len(stored.split()) > 2 * tr.max_source_tokens
    assert read_table(tmp_path)["source_chars"][0] == len(story.text)


def test_gate_rejections_are_recorded_and_not_resent(tmp_path: Path, tiny_model: Path) -> None:
    tr = translator(tiny_model)
    stories = sources(6)
    run = translate_with_model(HINDI, tmp_path, stories, tr, TranslationLimits(),
                               log=lambda _: None)
    assert run.failed and run.generated == 0  # word salad fails the default gates
    rejected = read_table(tmp_path, "rejection")
    assert rejected.height == 6 and set(rejected["prompt_id"]) == {s.source_id for s in stories}
    assert set(rejected["reason"]) <= {"length_ratio", "unknown_words", "repetitive",
                                       "too_long"}
    assert sum(run.rejections.values()) == 6
    assert list(pending_stories(tmp_path, stories, None)) == []
    assert len(list(pending_stories(tmp_path, stories, None, retry_failed=True))) == 6


def test_missing_text_column_names_file_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "tinystories.parquet"
    pl.DataFrame({"story": ["Once upon a time."]}).write_parquet(path)
    with pytest.raises(ValueError, match=r"tinystories.parquet.*'text'.*source_text_column"):
        list(iter_local_stories(path, "text"))
    assert [s.text for s in iter_local_stories(path, "story")] == ["Once upon a time."]


KILLED_RUN = """
import sys
from pathlib import Path
import polars as pl
from tsr_assets.core.languages import get_language
from tsr_assets.translation.seq2seq import Seq2SeqSettings, Seq2SeqTranslator
from tsr_assets.translation.source_stories import iter_local_stories
from tsr_assets.translation.translating import translate_with_model
from tsr_assets_tests.translation.test_seq2seq import LENIENT
model, source, store, limit = sys.argv[1:5]
tr = Seq2SeqTranslator(Seq2SeqSettings(model, max_new_tokens_ratio=0.5), get_language("hindi"))
translate_with_model(get_language("hindi"), Path(store), iter_local_stories(source, "text"),
                     tr, LENIENT, limit=int(limit), stories_per_chunk=4, log=print)
"""


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path: Path,
                                                           tiny_model: Path) -> None:
    stories = sources(200, seed=5)
    source = tmp_path / "english.jsonl"
    pl.DataFrame({"text": [s.text for s in stories]}).write_ndjson(source)
    store = tmp_path / "store"
    args = [sys.executable, "-c", KILLED_RUN, str(tiny_model), str(source), str(store), "120"]
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(args, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    journal = store / "journal"
    while time.monotonic() < deadline and proc.poll() is None:
        lines = sum(p.read_text().count("\n") for p in journal.glob("*.jsonl")) \
            if journal.is_dir() else 0
        if lines >= 12:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_table(store)  # not compacted yet: the journal holds the finished ones
    assert before.height == 0 and any(journal.glob("*.jsonl"))

    tr = Seq2SeqTranslator(Seq2SeqSettings(str(tiny_model), max_new_tokens_ratio=0.5), HINDI)
    run = translate_with_model(HINDI, store, iter_local_stories(source, "text"), tr, LENIENT,
                               limit=120, log=lambda _: None)
    done = read_table(store)
    failed = read_table(store, "failure")
    assert done["prompt_id"].n_unique() == done.height  # no duplicate
    ids = set(done["prompt_id"]) | set(failed["prompt_id"])
    assert ids == {s.source_id for s in stories[:120]}  # none lost, none beyond the limit
    assert run.requested < 120  # the killed run's finished stories were not sent again


def test_m2m100_and_tagged_code_styles(tmp_path: Path) -> None:
    m2m = build_tiny_seq2seq(tmp_path / "m2m", language_tokens=("__en__", "__hi__", "__mr__"))
    tr = Seq2SeqTranslator(Seq2SeqSettings(str(m2m)), HINDI)
    assert tr.code_style == "m2m100"
    assert tr.tokenizer.convert_ids_to_tokens(tr._forced_bos) == "__hi__"
    with pytest.raises(TranslatorSetupError, match="__bn__"):
        Seq2SeqTranslator(Seq2SeqSettings(str(m2m)), get_language("bengali"))
    # IndicTrans2's convention: both codes as tags before the text, nothing forced.
    tagged = build_tiny_seq2seq(tmp_path / "tagged", language_tokens=())
    with pytest.raises(TranslatorSetupError, match="hin_Deva"):
        Seq2SeqTranslator(Seq2SeqSettings(str(tagged)), HINDI)  # auto finds no code token
    tr = Seq2SeqTranslator(Seq2SeqSettings(str(tagged), code_style="tagged"), HINDI)
    assert tr._forced_bos is None and tr._prefix == "eng_Latn hin_Deva "
    assert tr.count_tokens("Tom ran .") == len(tr.tokenizer("eng_Latn hin_Deva Tom ran .")
                                              ["input_ids"])
    assert len(tr.translate(["Tom ran to the park ."])) == 1
