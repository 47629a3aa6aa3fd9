"""Short natural stories written for the tests, in words that are not in the packaged data, and
script-correct gibberish made from their syllables."""

from __future__ import annotations

import random
import unicodedata

NATURAL = {
    "hindi": (
        "सोनू एक नन्हा खरगोश था जो जंगल के किनारे एक छोटे से बिल में रहता था। हर सुबह वह "
        "अपनी माँ के साथ गाजर ढूँढने निकलता था।\n\n"
        "एक दिन उसे रास्ते में एक घायल चिड़िया मिली। सोनू ने उसे धीरे से उठाया और अपने घर "
        "ले आया। माँ ने चिड़िया के पंख पर पत्ते बाँध दिए।\n\n"
        "कुछ दिनों बाद चिड़िया फिर से उड़ने लगी। वह रोज़ सोनू के बिल के पास आकर मीठा गाना "
        "गाती थी। सोनू बहुत खुश था कि उसने किसी की मदद की।"
    ),
    "marathi": (
        "एका लहान गावात राजू नावाचा एक मुलगा राहत होता. त्याला झाडांवर चढायला खूप "
        "आवडायचे.\n\n"
        "एके दिवशी त्याला झाडाखाली एक लहान मांजरीचे पिल्लू दिसले. ते पिल्लू खूप घाबरलेले "
        "होते आणि त्याला भूकही लागली होती.\n\n"
        "राजूने त्याला घरी आणले आणि एका वाटीत दूध दिले. आईने हसून पिल्लाच्या डोक्यावरून हात "
        "फिरवला. त्या दिवसापासून ते पिल्लू राजूचा सगळ्यात चांगला मित्र झाले."
    ),
    "bengali": (
        "একটি ছোট গ্রামে মিনু নামে একটি মেয়ে থাকত। সে প্রতিদিন সকালে নদীর ধারে হাঁটতে "
        "যেত।\n\n"
        "একদিন সে দেখল, একটি ছোট হাঁসের ছানা জলে পড়ে কাঁদছে। মিনু সাবধানে ছানাটিকে তুলে "
        "আনল।\n\n"
        "তারপর সে ছানাটিকে তার মায়ের কাছে পৌঁছে দিল। মা হাঁস খুশি হয়ে ডানা ঝাপটাল। "
        "সেদিন মিনু বুঝল, ছোট একটি ভালো কাজও অনেক আনন্দ দিতে পারে।"
    ),
}


def syllables(text: str) -> list[str]:
    """Letters with the marks after them (a rough syllable split, enough for shuffling)."""
    found: list[str] = []
    for word in text.split():
        current = ""
        for char in word:
            if unicodedata.category(char)[0] == "L" and current and not current.endswith("\u094d") \
                    and not current.endswith("\u09cd"):
                found.append(current)
                current = char
            elif unicodedata.category(char)[0] in "LM":
                current += char
        if current:
            found.append(current)
    return found


def gibberish(language: str, seed: int = 0) -> str:
    """The natural story's syllables shuffled into new 'words': right script, no language."""
    rng = random.Random(seed)
    pieces = syllables(NATURAL[language]) * 2
    rng.shuffle(pieces)
    words, i = [], 0
    while i < len(pieces):
        size = rng.randint(2, 4)
        words.append("".join(pieces[i:i + size]))
        i += size
    terminator = "." if language == "marathi" else "।"
    sentences = [" ".join(words[i:i + 8]) + terminator for i in range(0, len(words), 8)]
    return " ".join(sentences)
