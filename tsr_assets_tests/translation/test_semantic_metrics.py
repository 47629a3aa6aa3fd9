"""LaBSE similarity and COMET through tiny random models built offline: the plumbing (loading
a folder, embedding, cosine; the COMET environment, its worker, its answer), not the numbers;
and a missing model named with its field."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tsr_assets.translation.semantic_metrics import (
    MetricModelError,
    comet_scores,
    labse_similarities,
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_labse_similarity_is_the_cosine_of_the_two_embeddings(tiny_labse: Path) -> None:
    from sentence_transformers import SentenceTransformer

    sources = ["एक छोटी लड़की थी।", "আমার একটা বিড়াল আছে।", "The sun was bright."]
    translations = ["एक छोटी लड़की थी।", "The dog ran home.", "सूरज चमक रहा था।"]
    got = labse_similarities(sources, translations, str(tiny_labse))
    assert got[0] == pytest.approx(1.0, abs=1e-5)  # the same text
    assert all(-1.0 <= g < 0.9999 for g in got[1:])
    model = SentenceTransformer(str(tiny_labse), device="cpu")
    a, b = model.encode([sources[1], translations[1]])
    expected = float(a @ b / ((a @ a) ** 0.5 * (b @ b) ** 0.5))
    assert got[1] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="2 translations for 3 sources"):
        labse_similarities(sources, translations[:2], str(tiny_labse))


def test_a_missing_labse_model_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(MetricModelError, match=r"labse_model: '.*nowhere' is not a "
                       r"sentence-transformers folder.*hf download sentence-transformers/LaBSE"):
        labse_similarities(["a"], ["b"], str(tmp_path / "nowhere"))


def test_comet_names_a_missing_model_or_environment(tmp_path: Path) -> None:
    with pytest.raises(MetricModelError, match=r"comet_model: .*nowhere does not exist"):
        comet_scores(["a"], ["b"], ["c"], str(tmp_path / "nowhere"))
    with pytest.raises(MetricModelError, match=r"comet_python: .*missing-python does not exist"):
        comet_scores(["a"], ["b"], ["c"], "Unbabel/wmt22-comet-da",
                     python=str(tmp_path / "missing-python"))
    # The platform's own environment has no unbabel-comet (its pins clash): named as such.
    with pytest.raises(MetricModelError, match="comet_python: unbabel-comet does not import"):
        comet_scores(["a"], ["b"], ["c"], "Unbabel/wmt22-comet-da", python=sys.executable)


def test_comet_scores_each_translation_with_a_tiny_checkpoint(tiny_comet: Path) -> None:
    scores = comet_scores(["एक लड़की", "a dog", "সূর্য"], ["एक लड़की", "कुत्ता", ""],
                          ["एक लड़की", "कुत्ता", "সূর্য"], str(tiny_comet))
    assert len(scores.scores) == 3
    assert scores.system_score == pytest.approx(sum(scores.scores) / 3)
    # A Hub id offline: the worker in the COMET environment names the model as missing.
    with pytest.raises(MetricModelError, match=r"comet_model: Unbabel/wmt22-comet-da is not a "
                       r"local checkpoint and could not be fetched from the Hub"):
        comet_scores(["a"], ["b"], ["c"], "Unbabel/wmt22-comet-da")
