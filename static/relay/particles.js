// Korean particles chosen by the word before them, as relay/common/korean.py chooses them on the server:
// 이/가, 을/를, 은/는, 와/과, 으로/로, 이에요/예요, by the final consonant of the last sound a reader says.
// Digits are read as Sino-Korean numbers ("라운드 3" → 삼, "v1" → 일), an acronym by its letters' names ("GPU"
// → 유), a Latin word as Koreans say it ("Mecab" → 메캅); closing quotes and brackets are looked past. A word
// whose sound cannot be told gets the neutral form that writes both forms.

const PARTICLES = {
  "이/가": ["이", "가"],
  "을/를": ["을", "를"],
  "은/는": ["은", "는"],
  "과/와": ["과", "와"],
  "와/과": ["과", "와"],
  "으로/로": ["으로", "로"],
  "이에요/예요": ["이에요", "예요"],
  "이라고/라고": ["이라고", "라고"],
};

const HANGUL_FIRST = 0xac00;
const HANGUL_LAST = 0xd7a3;
const FINAL_RIEUL = 8;
const DIGIT_FINAL = { 0: 21, 1: 8, 2: 0, 3: 16, 4: 0, 5: 0, 6: 1, 7: 8, 8: 8, 9: 0 };
const ZEROS_FINAL = { 1: 17, 2: 1, 3: 4, 4: 4, 5: 4, 6: 4, 7: 4, 8: 1, 9: 1, 10: 1, 11: 1, 12: 0, 13: 0, 14: 0, 15: 0 };
const LETTER_FINAL = { l: 8, m: 16, n: 4, r: 8 };
const WORD_FINAL = { b: 17, c: 1, d: 7, g: 1, k: 1, l: 8, m: 16, n: 4, p: 17, t: 19 };
const SKIPPED = new Set(" \t\n\"'”’」』》〉)]}.,!?…·~-");

// The final consonant of the word's last sound (0: none, 8: ㄹ, …), or null when it cannot be told.
export function finalConsonant(word) {
  let text = String(word ?? "").normalize("NFC").trimEnd();
  while (text && SKIPPED.has(text.at(-1))) text = text.slice(0, -1);
  if (!text) return null;
  const last = text.at(-1);
  const code = last.codePointAt(0);
  if (code >= HANGUL_FIRST && code <= HANGUL_LAST) return (code - HANGUL_FIRST) % 28;
  if (/[0-9]/.test(last)) {
    const digits = text.match(/[0-9]+$/)[0];
    const stripped = digits.replace(/0+$/, "");
    if (!stripped) return DIGIT_FINAL[0];
    const zeros = digits.length - stripped.length;
    return zeros ? (ZEROS_FINAL[zeros] ?? 21) : DIGIT_FINAL[stripped.at(-1)];
  }
  if (/[A-Za-z]/.test(last)) {
    const letters = text.match(/[A-Za-z]+$/)[0];
    if (letters.length === 1 || letters === letters.toUpperCase()) return LETTER_FINAL[last.toLowerCase()] ?? 0;
    if (letters.toLowerCase().endsWith("ng")) return 21;
    return WORD_FINAL[last.toLowerCase()] ?? 0;
  }
  return null;
}

// The form of the particle pair ("이/가", "을/를", …) after the word.
export function particle(word, pair) {
  const [withFinal, without] = PARTICLES[pair];
  const final = finalConsonant(word);
  if (final === null) return pair === "으로/로" ? `(${withFinal[0]})${without}` : `${withFinal}(${without})`;
  if (pair === "으로/로") return final === 0 || final === FINAL_RIEUL ? without : withFinal;
  return final ? withFinal : without;
}

// The word with its particle: josa("등대", "이/가") === "등대가".
export function josa(word, pair) {
  return `${word}${particle(word, pair)}`;
}
