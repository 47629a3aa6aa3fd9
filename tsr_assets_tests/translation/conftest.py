"""The tiny seq2seq model, built once per session."""

from pathlib import Path

import pytest

from tsr_assets_tests.translation.tiny_seq2seq import build_tiny_seq2seq


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a saved tiny NLLB-shaped model and its tokenizer."""
    return build_tiny_seq2seq(tmp_path_factory.mktemp("tiny_seq2seq"))
