"""Who is in a story: the names of its people (and places), found in more than one way.

Mecab's dictionary knows few of the names a novel of the 1920s-30s gives its
people: it tags 정희 as a proper noun (NNP) but 경희, 성구, 병주, 일복 and 우일
as common nouns (NNG), having other words of the same spelling. One tagger alone
hid the names of other novels that walked into the AI's stories. So a word is a
name here when the signals agree:

- **Mecab NNP**: a proper noun of two syllables or more, seen at least twice;
- **particles**: a word that recurs before the particles of a subject, topic,
  object, owner or address (이/가, 은/는, 을/를, 에게, 의, 야/아 ...), with more than
  one of them, Mecab reading it as a noun (not as a verb: 모르는 is not 모르 + 는);
  a name that ends in a consonant often takes 이 before them (영식이는: 영식);
- **speech**: it is the subject of a verb of speech next to quoted speech
  (`"…" 하고 영식이가 물었다`), or it is called (`영식아`, `정희야`);
- **one text's word**: it is frequent in one text and rare in the others
  (``common``: the words most texts use, 그날 or 어머니, are never names).

``Cast.of(text, common=...)`` finds a text's cast; ``training_names`` the names
of each training text, which a model keeps (``names.json``, engine.train) so
that generation can keep other novels' people out of a story (engine.generate).
tests/engine/test_cast.py measures the finder against a hand-checked list of
the characters of training novels, recall and precision both.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CheckpointError
from engine.morph import pos
from engine.text import normalize

FILE = "names.json"  # beside the checkpoint: the training texts' names and their common words

# Particles after a noun, longest first; each with whether the noun before it ends in a consonant (True),
# a vowel (False), or either (None).
PARTICLES: tuple[tuple[str, bool | None], ...] = (
    ("에게서", None),
    ("에게", None),
    ("한테", None),
    ("께서", None),
    ("이", True),
    ("가", False),
    ("은", True),
    ("는", False),
    ("을", True),
    ("를", False),
    ("과", True),
    ("와", False),
    ("아", True),
    ("야", False),
    ("의", None),
    ("도", None),
)
CALLED = {"아", "야"}
SUBJECT = {"이", "가", "은", "는"}
# What people do, not things: the verb after a subject that makes it a person (영식이는 웃었다, 정희가 물었다).
PERSON_VERBS = ("말했", "말하였", "말한다", "말을 한", "물었", "묻는다", "대답", "소리쳤", "소리를 질렀", "외쳤",
                "중얼거", "속삭", "웃었", "웃는다", "웃으며", "빙그레", "울었", "울면서", "한숨", "고개를",
                "생각하였", "생각했", "생각한다", "여쭈", "부르짖")  # fmt: skip
# A word ending in these is a title or a role (장인님, 노마님, 떡장수, 행랑어멈), not anyone's name.
ROLE_ENDINGS = ("님", "댁", "장수", "어멈", "아범", "놈", "쟁이", "들", "네", "씨", "서방", "첨지", "영감", "생원",
                "주사", "진사", "도령", "마님", "할멈", "언니", "오빠", "누나", "누이", "아우", "동생", "형님", "아저씨",
                "아주머니", "할머니", "할아버지", "어머니", "아버지", "마누라", "아가씨", "계집애", "선생")  # fmt: skip
# Words so common in any story that they are nobody's name, whatever the training texts say (the training texts'
# own common words are added to them: Words.common).
EVERYDAY = frozenset(
    "그날 오늘 어제 내일 그때 이때 지금 아침 저녁 낮 밤 사람 사람들 우리 당신 자기 그녀 그들 여기 거기 저기 "
    "무엇 누구 하나 마음 생각 얼굴 세상 이야기 소리 집 길 눈물 편지 어머니 아버지 남편 아내 아이 선생".split()
)
# After a place's name inside its word (평양에서, 진고개로), besides the particles above.
PLACE_PARTICLES = ("에서", "에", "으로", "로", "서", "까지", "부터")
# The particles that may follow a name's particle-less form inside one word (정희에게는: 정희).
INNER = ("에게서", "에게", "한테", "께서", "더러", "보고")
NOUN_TAGS = ("NNG", "NNP")
MIN_SYLLABLES, MAX_SYLLABLES = 2, 4
COMMON_SHARE = 0.25  # a word in a quarter of the training texts or more is a common word, whatever its tags
ORDINARY_TEXTS = (
    3  # a word before particles in this many training texts is an ordinary noun (not a name by count alone)
)
ONE_TEXT_SHARE = 0.1  # a name of one text: in at most this share of the texts (at least 2)
_HANGUL_WORD = re.compile(r"[가-힣]+")
_QUOTE = re.compile(r"[\"'“”‘’「」『』]")


def has_final_consonant(syllable: str) -> bool:
    code = ord(syllable) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


def split_particle(word: str) -> tuple[str, str] | None:
    """(noun, particle) when the word reads as a noun of 2-4 syllables and a particle that agrees with its end."""
    for particle, after_consonant in PARTICLES:
        stem = word[: -len(particle)]
        if not word.endswith(particle) or not MIN_SYLLABLES <= len(stem) <= MAX_SYLLABLES + 1:
            continue
        if after_consonant is not None and has_final_consonant(stem[-1]) != after_consonant:
            continue
        return stem, particle
    return None


def name_of(stem: str) -> str:
    """The name in a stem: 영식이 (영식 and the 이 a name ending in a consonant takes) is 영식; 정희에게 is 정희."""
    for inner in INNER:
        if stem.endswith(inner) and len(stem) - len(inner) >= MIN_SYLLABLES:
            stem = stem[: -len(inner)]
            break
    if len(stem) > MIN_SYLLABLES and stem.endswith("이") and has_final_consonant(stem[-2]):
        return stem[:-1]
    return stem


def _particle_follows(rest: str) -> bool:
    """Whether what follows a proper noun inside its word is nothing, punctuation, or a particle (영식이가, 정희의)."""
    core = _HANGUL_WORD.match(rest)
    if core is None:
        return True
    tail = core.group(0)
    if tail.startswith("이") and len(tail) > 1:
        tail = tail[1:]
    return tail == "이" or any(tail.startswith(p) for p, _ in PARTICLES) or tail.startswith(INNER + PLACE_PARTICLES)


@dataclass
class Evidence:
    """What a text says of one word."""

    particles: Counter = field(default_factory=Counter)  # particle -> times
    called: int = 0  # 영식아, 정희야
    speaker: int = 0  # the subject of what people do: 영식이는 웃었다, 정희가 물었다
    proper: int = 0  # Mecab NNP, a whole word before its particles (not 순이 inside 점순이)
    affectionate: int = 0  # with the 이 a name ending in a consonant takes before a particle: 점순이가, 시월이는
    forms: Counter = field(default_factory=Counter)  # the words it was seen in, for Mecab's reading

    @property
    def with_particles(self) -> int:
        return sum(self.particles.values())

    @property
    def mentions(self) -> int:
        return max(self.with_particles, self.proper)


def _evidence(text: str) -> dict[str, Evidence]:
    found: dict[str, Evidence] = defaultdict(Evidence)
    for line in normalize(text).split("\n"):
        words = line.split()
        for index, raw in enumerate(words):
            core = _HANGUL_WORD.match(_QUOTE.sub("", raw))
            if core is None:
                continue
            split = split_particle(core.group(0))
            if split is None:
                continue
            stem, particle = split
            name = name_of(stem)
            if name != stem and stem.endswith("이") and _noun_ending_in_i(name):
                name = stem  # 고양이가: the cat, not 고양 with a name's 이
            if not MIN_SYLLABLES <= len(name) <= MAX_SYLLABLES:
                continue
            evidence = found[name]
            evidence.particles[particle] += 1
            if name != stem and stem.endswith("이") and stem[: len(name)] == name:
                evidence.affectionate += 1
            evidence.forms[core.group(0)] += 1
            if particle in CALLED and raw.rstrip().endswith((",", "!", "?", ".", "…", '"', "”", "’", "'")):
                evidence.called += 1
            if particle in SUBJECT and _does(" ".join(words[index + 1 : index + 5])):
                evidence.speaker += 1
        _proper_nouns(line, found)
    return found


def _proper_nouns(line: str, found: dict[str, Evidence]) -> None:
    cursor = 0
    for surface, tag in pos(line):
        at = line.find(surface, cursor)
        if at < 0:
            continue
        cursor = at + len(surface)
        if tag != "NNP" or not MIN_SYLLABLES <= len(surface) <= MAX_SYLLABLES or not _HANGUL_WORD.fullmatch(surface):
            continue
        starts_word = at == 0 or not _HANGUL_WORD.match(line[at - 1])
        end = line.find(" ", cursor)
        if starts_word and _particle_follows(line[cursor : end if end >= 0 else len(line)]):
            found[surface].proper += 1


def _does(following: str) -> bool:
    return any(verb in following for verb in PERSON_VERBS)


_reading: dict[str, bool] = {}


def reads_as_noun(name: str, forms: Counter) -> bool:
    """Whether Mecab reads the word, in its most frequent form, as nouns (a name it does not know is a common
    noun to it) rather than as a verb, an adjective or an ending."""
    form = forms.most_common(1)[0][0] if forms else name
    if form not in _reading:
        morphemes = pos(form)
        spelled = ""
        nouns = True
        for surface, tag in morphemes:
            if len(spelled) >= len(name):
                break
            spelled += surface
            nouns = nouns and tag.split("+")[0] in NOUN_TAGS
        _reading[form] = nouns and spelled.startswith(name)
        if len(_reading) > 200_000:
            _reading.clear()
    return _reading[form]


def is_name(
    name: str, evidence: Evidence, *, common: frozenset[str] = frozenset(), ordinary: frozenset[str] = frozenset()
) -> bool:
    """Whether the signals agree that the word is a name (see the module docstring)."""
    if name in common or name in EVERYDAY or name.endswith(ROLE_ENDINGS):
        return False
    particles, kinds = evidence.with_particles, len(evidence.particles)
    if evidence.proper >= 2 and (particles >= 1 or evidence.proper >= 4):
        return True
    if evidence.affectionate >= 2 and not _verb_or_adverb(evidence.forms):
        return True
    if particles < 2 or not reads_as_noun(name, evidence.forms):
        return False
    if evidence.called and evidence.speaker:
        return True
    if evidence.proper and (evidence.called or evidence.speaker) and kinds >= 2:
        return True
    # what Mecab misses, told by use alone: a word of this text only (not an ordinary noun of the training
    # texts), often, before many kinds of particles, as people's names are (성구가, 성구의, 성구와, 성구에게 ...)
    if name in ordinary:
        return False
    person = evidence.called + evidence.speaker
    return (particles >= 10 and kinds >= 5 and person >= 1) or (particles >= 6 and kinds >= 3 and person >= 2)


def _verb_or_adverb(forms: Counter) -> bool:
    """지껄이는 and 반짝이는 are verbs, 정말이지 an adverb: not a name with its 이 (까맹이는: Mecab does not know
    the name, but does not read it as a verb either)."""
    form = forms.most_common(1)[0][0]
    morphemes = pos(form)
    return bool(morphemes) and morphemes[0][1].split("+")[0] in ("VV", "VA", "VX", "XR", "MAG")


@functools.lru_cache(maxsize=65536)
def _noun_ending_in_i(name: str) -> bool:
    """고양이 and 원숭이 are nouns that end in 이, not 고양 and 원숭 with a name's 이."""
    morphemes = pos(name + "이가")
    return bool(morphemes) and morphemes[0][0] == name + "이" and morphemes[0][1] in NOUN_TAGS


@dataclass(frozen=True)
class Cast:
    """The names of one text, most mentioned first, with how often each comes."""

    names: tuple[str, ...]
    counts: tuple[int, ...] = ()

    @classmethod
    def of(cls, text: str, *, common: Iterable[str] = (), ordinary: Iterable[str] = ()) -> Cast:
        found = _evidence(text)
        known, seen = frozenset(common), frozenset(ordinary)
        kept = [(name, e) for name, e in found.items() if is_name(name, e, common=known, ordinary=seen)]
        kept = [(name, e) for name, e in kept if not _part_of_longer(name, kept)]
        kept.sort(key=lambda item: -item[1].mentions)
        return cls(tuple(name for name, _ in kept), tuple(e.mentions for _, e in kept))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _part_of_longer(name: str, kept: list[tuple[str, Evidence]]) -> bool:
    """최성구 and 성구 are both kept (a full name and its given name); 파틸 inside 파틸리샨 is not a name."""
    return any(other != name and other.startswith(name) and e.mentions >= 2 for other, e in kept)


@dataclass(frozen=True)
class Words:
    """The words before particles across texts: those a quarter of the texts use (``common``: 그날, 어머니, never
    a name) and those three texts or more use (``ordinary``: a noun, not a name by its frequency alone)."""

    common: frozenset[str] = frozenset()
    ordinary: frozenset[str] = frozenset()

    @classmethod
    def of(cls, texts: Sequence[str]) -> Words:
        if len(texts) < ORDINARY_TEXTS:
            return cls()
        seen: Counter = Counter()
        for text in texts:
            seen.update(set(_evidence_words(text)))
        needed = max(ORDINARY_TEXTS, COMMON_SHARE * len(texts))
        return cls(
            frozenset(word for word, count in seen.items() if count >= needed),
            frozenset(word for word, count in seen.items() if count >= ORDINARY_TEXTS),
        )

    def cast(self, text: str) -> Cast:
        return Cast.of(text, common=self.common, ordinary=self.ordinary)

    def is_common(self, word: str) -> bool:
        """Whether the word is too common to be anyone's name (그날, 어머니): a correction may not add it."""
        return word in EVERYDAY or word in self.common


_cast_cache: dict[tuple[int, int, str], tuple[str, ...]] = {}
_cast_lock = threading.Lock()


def cached_cast(words: Words, story: str) -> tuple[str, ...]:
    """The story's people, most named first (``words.cast``), kept for the few stories last asked about: a
    worker writes turn after turn of the same ones, and their pages show the cast."""
    key = (id(words), len(story), story[-200:])
    with _cast_lock:
        if key in _cast_cache:
            return _cast_cache[key]
    found = words.cast(story).names
    with _cast_lock:
        if len(_cast_cache) >= 64:
            _cast_cache.pop(next(iter(_cast_cache)))
        _cast_cache[key] = found
    return found


def _evidence_words(text: str) -> Iterable[str]:
    for raw in normalize(text).split():
        core = _HANGUL_WORD.match(_QUOTE.sub("", raw))
        if core is not None and (split := split_particle(core.group(0))) is not None:
            yield name_of(split[0])


@dataclass(frozen=True)
class TrainingNames:
    """What a model keeps of its training texts' names: each text's cast, and the words of all of them."""

    casts: dict[str, list[str]]
    words: Words = Words()

    @functools.cached_property
    def all(self) -> frozenset[str]:
        """The names of the training texts that are one text's (or a few texts') own, not common words."""
        texts = max(1, len(self.casts))
        spread: Counter = Counter(name for names in self.casts.values() for name in set(names))
        limit = max(2, ONE_TEXT_SHARE * texts)
        return frozenset(name for name, count in spread.items() if count <= limit and name not in self.words.common)

    def save(self, path: Path) -> None:
        data = {"casts": self.casts, "common": sorted(self.words.common), "ordinary": sorted(self.words.ordinary)}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> TrainingNames:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            casts = {str(k): [str(n) for n in v] for k, v in data["casts"].items()}
            words = Words(frozenset(map(str, data["common"])), frozenset(map(str, data["ordinary"])))
            return cls(casts, words)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(f"{path}: not a names file ({error})") from None


def training_names(sources: Sequence[tuple[str, str]]) -> TrainingNames:
    """Each training text's cast (by name of the text), with the words too common to be anyone's name."""
    words = Words.of([text for _, text in sources])
    return TrainingNames({name: list(words.cast(text).names) for name, text in sources}, words)


class NameGuard:
    """The names a passage may not write: the people of other training texts that this story does not have.

    engine.generate asks, for each token it samples, whether it would complete one of them at the start of a
    word (정희 in 그날 밤 정희는); if so it draws another, as the copy guard does for copied spans. A name the
    story or the keyword already holds, or that its readers put in its cast, is the story's own and stays.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.longest = max(map(len, self.names), default=0)

    @classmethod
    def of(
        cls, training: TrainingNames, *, story: str, keyword: str = "", cast: Iterable[str] = ()
    ) -> NameGuard | None:
        own = set(cast)
        names = [name for name in training.all if name not in own and name not in story and name not in keyword]
        return cls(names) if names else None

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def completes(self, before: str, text: str) -> bool:
        """Whether ``text`` written after ``before`` completes one of the names at the start of a word."""
        run = ""
        for ch in reversed(before[-(self.longest + 1) :]):
            if not _is_syllable(ch):
                break
            run = ch + run
        for ch in text:
            if not _is_syllable(ch):
                run = ""
                continue
            run += ch  # from the start of its word: a run of before longer than any name can match none
            if len(run) <= self.longest and run in self.names:
                return True
        return False


def _is_syllable(ch: str) -> bool:
    return "가" <= ch <= "힣"
