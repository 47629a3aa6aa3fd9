"""Prompt templates: every template renders for every language, and asks for JSON."""

from __future__ import annotations

import json
import re

import pytest

from tsr_assets.core.languages import BUILTIN_LANGUAGES, Language
from tsr_assets.prompts.templates import (
    DEFAULT_TEMPLATE,
    TEMPLATES,
    PromptTemplate,
    get_template,
    render_prompt,
    template_pieces,
)

WORDS = {
    "hindi": ("घर", "खेलना", "लाल", "खुशहाल अंत"),
    "marathi": ("घर", "खेळणे", "लाल", "आनंदी शेवट"),
    "bengali": ("বাড়ি", "খেলা", "লাল", "আনন্দময় সমাপ্তি"),
    "english": ("house", "play", "red", "a happy ending"),
}


def test_there_are_six_templates_and_a_default() -> None:
    assert len(TEMPLATES) >= 6
    assert DEFAULT_TEMPLATE == "structured" and DEFAULT_TEMPLATE in TEMPLATES


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES, ids=lambda lang: lang.key)
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_render_for_each_language(language: Language, name: str) -> None:
    noun, verb, adjective, feature = WORDS[language.key]
    text = render_prompt(get_template(name), language, noun, verb, adjective, feature)
    for word in (noun, verb, adjective, feature, language.display_name, language.script):
        assert word in text
    assert "{" + "noun" not in text and "{language" not in text
    # The answer format is valid JSON with a `story` field once the placeholder is filled.
    answer = re.search(r"\{\"story\": \"(.*?)\"\}", text)
    assert answer is not None
    assert json.loads(answer.group(0).replace(answer.group(1), "x")) == {"story": "x"}


def test_pieces_rebuild_the_rendered_prompt() -> None:
    language = BUILTIN_LANGUAGES[2]
    words = dict(zip(("noun", "verb", "adjective", "feature"), WORDS["bengali"], strict=True))
    for template in TEMPLATES.values():
        rebuilt = "".join(lit + (words[slot] if slot else "") for lit, slot in template_pieces(
            template, language
        ))
        assert rebuilt == render_prompt(template, language, **words)


def test_unknown_template_lists_choices() -> None:
    with pytest.raises(KeyError, match="choose one of: basic, structured"):
        get_template("fancy")


def test_unknown_slot_is_rejected() -> None:
    bad = PromptTemplate(name="bad", summary="", text="Write about {animal}.")
    with pytest.raises(ValueError, match="unknown slot"):
        template_pieces(bad, BUILTIN_LANGUAGES[0])


def test_a_template_file_of_your_own(tmp_path) -> None:
    from tsr_assets.core.languages import get_language
    from tsr_assets.prompts.templates import load_template_file

    path = tmp_path / "original.txt"
    path.write_text("\ufeffWrite a {language} story ({script}) with {noun}, {verb} and "
                    "{adjective}, {feature}.\r\nReturn {{\"story\": \"...\"}}\r\n",
                    encoding="utf-8")
    template = load_template_file(path, max_words=250)
    assert template.name == "file:original.txt" and template.max_tokens == 250 * 6 + 64
    text = render_prompt(template, get_language("hindi"), "घर", "खेलना", "लाल", "अंत")
    assert text.startswith("Write a Hindi story (Devanagari) with घर, खेलना and लाल, अंत.")
    assert text.endswith('Return {"story": "..."}')
    other = tmp_path / "other.txt"
    other.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert load_template_file(other).text_hash == template.text_hash  # same words, same hash


@pytest.mark.parametrize(("text", "message"), [
    ("Story about {noun} {verb} {adjective} in {colour}.", "line 1: unknown placeholder {colour}"),
    ("Story about {noun} and {adjective}.", "placeholder {verb} is missing"),
    ("Story about {noun} {verb}\n{adjective} and {feature.", "line 2: '{' never closed"),
    ("Answer as {\"story\": ...} about {noun} {verb} {adjective}",
     "unknown placeholder {\"story\"}"),
    ("{noun} {verb} {adjective} }", "line 1: '}' without an opening '{'"),
])
def test_template_file_mistakes_are_named(tmp_path, text: str, message: str) -> None:
    from tsr_assets.prompts.templates import TemplateError, load_template_file

    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        load_template_file(path)
    assert str(path) in str(err.value) and message in str(err.value)
