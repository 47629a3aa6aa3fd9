"""The original study's MorphScore written out independently of the platform, on a
`transformers` tokenizer (`convert_ids_to_tokens`), and gold files shaped like the original's
published ones: the reference the tests compare `morph_score` with."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from tsr_assets.tokenizers.morph_gold import packaged_morph_gold

#: Rows shaped like the original's published lists: an unnamed index column, sandhi rows whose
#: pt1 + rest does not spell the word, trailing spaces in cells, a Bengali word.
ORIGINAL_SHAPED_ROWS = ["मनोहर,मनो,रम", "सूर्योदय,सूर्य,उदय", "लड़कों,लड़क ,ों", "घरों ,घर,ों",
                        "সোনালি,সোন,আলি", "বোনকে,বোন,কে"]


def original_shaped_gold(path: Path) -> Path:
    """The packaged Hindi list with the rows above, written as the original's Bengali file
    (header `,full_word,pt1,rest`)."""
    rows = [line for line in packaged_morph_gold("hindi").read_text(
        encoding="utf-8").splitlines()[1:] if line]
    lines = [f"{i},{row}" for i, row in enumerate(rows + ORIGINAL_SHAPED_ROWS)]
    path.write_text(",full_word,pt1,rest\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def reference_morphscore(fast: PreTrainedTokenizerFast, path: Path) -> tuple[float, int, int]:
    """The original's MorphScore, written out here: read the CSV as it is, tokenize each word
    without special tokens, name the ids with `convert_ids_to_tokens`, strip one `▁` or `Ġ`
    from the first, drop single tokens, score 1 when some split equals [pt1, rest]."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    points = []
    for row in rows:
        ids = fast(row["full_word"], add_special_tokens=False)["input_ids"]
        tokens = fast.convert_ids_to_tokens(ids)
        if tokens[0][:1] in ("▁", "Ġ"):
            tokens[0] = tokens[0][1:]
        if len(tokens) == 1:
            continue
        morphemes = [row["pt1"], row["rest"]]
        points.append(int(any(["".join(tokens[:t + 1]), "".join(tokens[t + 1:])] == morphemes
                              for t in range(len(tokens) - 1))))
    return statistics.mean(points), len(points), len(rows) - len(points)
