"""Token bins for trainer tests: byte-level bins of 60 offline Hindi stories (session-wide)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.token_bins import write_token_bins
from tsr_assets_tests.tokenizers.corpus import stories


@pytest.fixture(scope="session")
def byte_bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bins")
    texts = list(stories("hindi"))
    batches = [([f"{i:016x}" for i in range(len(texts))], texts)]
    write_token_bins(ByteTokenizer(), batches, folder, val_share=0.1)
    return folder
