"""Korean particles follow the word before them (relay/common/korean.py, static/relay/particles.js): never
"이(가)" where the word is known, and the same choice on the server and in the page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from relay.common.korean import josa, particle

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    # a final consonant, none, ㄹ (with (으)로)
    ("등대", "이/가", "등대가"),
    ("바다", "을/를", "바다를"),
    ("책", "을/를", "책을"),
    ("사람", "은/는", "사람은"),
    ("나", "은/는", "나는"),
    ("바람", "와/과", "바람과"),
    ("바다", "와/과", "바다와"),
    ("부산", "으로/로", "부산으로"),
    ("서울", "으로/로", "서울로"),
    ("바다", "으로/로", "바다로"),
    ("책", "이에요/예요", "책이에요"),
    ("바다", "이에요/예요", "바다예요"),
    # digits read as Sino-Korean numbers
    ("라운드 3", "을/를", "라운드 3을"),
    ("라운드 2", "을/를", "라운드 2를"),
    ("라운드 1", "으로/로", "라운드 1로"),
    ("라운드 6", "으로/로", "라운드 6으로"),
    ("10", "이/가", "10이"),
    ("100", "이/가", "100이"),
    ("1000", "은/는", "1000은"),
    ("20000", "와/과", "20000과"),
    ("0", "이/가", "0이"),
    # Latin letters by their names
    ("모델 v1", "이/가", "모델 v1이"),
    ("모델 v2", "이/가", "모델 v2가"),
    ("GPU", "은/는", "GPU는"),
    ("HTML", "와/과", "HTML과"),
    ("Mecab", "을/를", "Mecab을"),
    ("Ken", "이/가", "Ken이"),
    ("demo", "이/가", "demo가"),
    ("computer", "을/를", "computer를"),
    ("book", "을/를", "book을"),
    ("King", "이/가", "King이"),
    ("CPU", "와/과", "CPU와"),
    # quotes and brackets are looked past
    ("“등대”", "이/가", "“등대”가"),
    ("「바다」", "을/를", "「바다」를"),
    ("'서울'", "으로/로", "'서울'로"),
    ("(부산)", "으로/로", "(부산)으로"),
]

UNKNOWN = ["", "   ", "😀", "!!!", "“”", "…"]


@pytest.mark.parametrize(("word", "pair", "expected"), CASES)
def test_the_particle_follows_the_last_sound_of_the_word(word, pair, expected):
    assert josa(word, pair) == expected


@pytest.mark.parametrize("word", UNKNOWN)
def test_a_word_whose_sound_cannot_be_told_gets_the_neutral_form_never_an_error(word):
    assert particle(word, "이/가") == "이" + "(가)"
    assert particle(word, "으로/로") == "(으)" + "로"
    assert particle(None, "을/를") == "을" + "(를)"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the page's module")
def test_the_page_chooses_every_particle_as_the_server_does(tmp_path):
    words = [(word, pair) for word, pair, _ in CASES] + [(word, "이/가") for word in UNKNOWN]
    script = tmp_path / "check.mjs"
    script.write_text(
        f"import {{ josa }} from {json.dumps(str(ROOT / 'static/relay/particles.js'))};\n"
        f"const cases = {json.dumps(words, ensure_ascii=False)};\n"
        "console.log(JSON.stringify(cases.map(([w, p]) => josa(w, p))));\n",
        encoding="utf-8",
    )
    answer = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(answer.stdout) == [josa(word, pair) for word, pair in words]


# A particle written both ways after a word: what a program prints when it does not choose.
BOTH_WAYS = re.compile(r"이\(가\)|을\(를\)|은\(는\)|와\(과\)|과\(와\)|\(으\)로|\(이\)(?:라고|에요|다)")


def source_files():
    for folder, suffixes in [
        ("templates", {".html", ".txt"}),
        ("static/relay", {".js"}),
        ("relay", {".py"}),
        ("novels", {".py"}),
        ("voting", {".py"}),
        ("management", {".py"}),
        ("engine", {".py"}),
    ]:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in suffixes and "migrations" not in path.parts:
                yield path


def test_no_template_python_string_or_script_writes_a_particle_both_ways():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in source_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BOTH_WAYS.search(line)
    ]
    assert not found, (
        "particles written both ways (use relay.common.korean / static/relay/particles.js):\n" + "\n".join(found)
    )
