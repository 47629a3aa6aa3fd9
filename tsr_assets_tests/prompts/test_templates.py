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
    with pytest.raises(ValueError, match=r"template 'bad': line 1: unknown placeholder \{animal\}"):
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
    ("{noun} {verb} {adjective} }", "line 1: '}' without an opening '{'"),
    ("{noun} {verb} {adjective}\nReturn {\n  \"story\": \"...\"\n", "line 2: '{' never closed"),
    ("{noun} {verb} { adjective }", "line 1: placeholder '{ adjective }' must be written "
     "{adjective}, without spaces or a format"),
    ("{noun:>10} {verb} {adjective}", "placeholder '{noun:>10}' must be written {noun}"),
    ("{noun!r} {verb} {adjective}", "placeholder '{noun!r}' must be written {noun}"),
    ("{noun} {verb} {adjective} {feature3}", "unknown placeholder {feature3}"),
])
def test_template_file_mistakes_are_named(tmp_path, text: str, message: str) -> None:
    from tsr_assets.prompts.templates import TemplateError, load_template_file

    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        load_template_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def _original_style():
    from tsr_assets.prompts.templates import ORIGINAL_STYLE_TEMPLATE_FILE, load_template_file

    return load_template_file(ORIGINAL_STYLE_TEMPLATE_FILE)


def test_the_original_style_template_renders_as_it_is() -> None:
    """`{feature1}` is the feature; the JSON example spanning lines comes out as written."""
    from tsr_assets.prompts.templates import ORIGINAL_STYLE_TEMPLATE_FILE

    template = _original_style()
    raw = ORIGINAL_STYLE_TEMPLATE_FILE.read_text(encoding="utf-8")
    assert "{feature1}" in raw and '{\n    "story": ' in raw and "{{" not in raw
    noun, verb, adjective, feature = WORDS["hindi"]
    text = render_prompt(template, BUILTIN_LANGUAGES[0], noun, verb, adjective, feature)
    assert f'"{feature}"' in text and "{feature1}" not in text and "Hindi" in text
    assert text.endswith('{\n    "story": "the_whole_story_here"\n}')
    block = text[text.rindex("{"):]
    assert json.loads(block) == {"story": "the_whole_story_here"}
    # The same text but for the filled slots: nothing else changed.
    assert text == (raw.strip().replace("{language}", "Hindi").replace("{script}", "Devanagari")
                    .replace("{noun}", noun).replace("{verb}", verb)
                    .replace("{adjective}", adjective).replace("{feature1}", feature))
    pieces = template_pieces(template, BUILTIN_LANGUAGES[0])
    assert [slot for _, slot in pieces if slot] == ["noun", "verb", "adjective", "feature"]
    words = dict(zip(("noun", "verb", "adjective", "feature"), WORDS["hindi"], strict=True))
    assert "".join(lit + (words[slot] if slot else "") for lit, slot in pieces) == text


@pytest.mark.parametrize(("text", "rendered"), [
    # The str.format escapes still work, placeholders inside them included.
    ('{noun} {verb} {adjective}: {{"story": "{noun}"}}', 'N V A: {"story": "N"}'),
    ("{{{noun}}} {verb} {adjective} {{feature}}", "{N} V A {feature}"),
    # A brace block that is no placeholder is literal, nested braces and all, on one line or
    # spanning several; nothing inside it is filled or unescaped.
    ('{noun} {verb} {adjective} {"story": "..."}', 'N V A {"story": "..."}'),
    ('{noun} {verb} {adjective}\n{\n  "a": {"b": [1, 2]},\n  "c": "{noun} {{x}}"\n}',
     'N V A\n{\n  "a": {"b": [1, 2]},\n  "c": "{noun} {{x}}"\n}'),
    ("{noun} {verb} {adjective} {your story} {story: a tale} {}", "N V A {your story} "
     "{story: a tale} {}"),
    # {feature1} and {feature2} are both the feature.
    ("{noun} {verb} {adjective} {feature1} / {feature2} / {feature}", "N V A F / F / F"),
])
def test_placeholder_rules(tmp_path, text: str, rendered: str) -> None:
    from tsr_assets.prompts.templates import load_template_file

    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    template = load_template_file(path)
    assert render_prompt(template, BUILTIN_LANGUAGES[0], "N", "V", "A", "F") == rendered


def test_every_unknown_placeholder_is_named_in_one_error(tmp_path) -> None:
    from tsr_assets.prompts.templates import TemplateError, load_template_file

    path = tmp_path / "colours.txt"
    path.write_text('A {colour} story with {noun}, {verb}, {adjective}.\n{\n  "story": ""\n}\n'
                    "About {size} and {colour}.", encoding="utf-8")
    with pytest.raises(TemplateError) as err:
        load_template_file(path)
    message = str(err.value)
    for problem in ("line 1: unknown placeholder {colour}", "line 5: unknown placeholder {size}",
                    "line 5: unknown placeholder {colour}"):
        assert problem in message
    assert message.count("the placeholders are") == 1
    assert ("the placeholders are {language}, {script}, {noun}, {verb}, {adjective}, {feature} "
            "(also {feature1} for {feature}, {feature2} for {feature})") in message
    assert '"story"' not in message  # the JSON block is no placeholder


def test_packaged_templates_compile_to_their_own_text() -> None:
    """The packaged templates are str.format strings already: compiling changes nothing."""
    for template in TEMPLATES.values():
        assert template.format_text == template.text
