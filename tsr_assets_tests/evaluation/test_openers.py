"""Opener files as users keep them: long, with blank lines, a BOM and CRLF line ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.evaluation.openers import OpenersError, load_openers

HINDI = get_language("hindi")


def test_a_thousand_line_file_with_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    packaged = [o.text for o in load_openers(HINDI)]
    lines = [packaged[i % len(packaged)] + f" ({i + 1})" for i in range(1000)]
    body = "\r\n".join(f"{line}\r\n" if i % 7 == 0 else line for i, line in enumerate(lines))
    path = tmp_path / "openers.txt"
    path.write_bytes("\ufeff# my openers\r\n".encode() + body.encode() + b"\r\n\r\n")
    openers = load_openers(HINDI, path)
    assert len(openers) == 1000
    assert [o.text for o in openers] == lines
    assert openers[999].prompt_id == "opener-999" and "\r" not in openers[0].text


def test_a_line_in_another_script_is_named(tmp_path: Path) -> None:
    path = tmp_path / "openers.txt"
    path.write_text("एक दिन मीरा बाग़ में गई।\nOnce upon a time\n", encoding="utf-8")
    with pytest.raises(OpenersError, match=r"openers.txt, line 2: 'Once upon a time'"):
        load_openers(HINDI, path)
