// The Korean keyboard: Enter pressed while a syllable is still being composed.
//
// Browsers differ. Chromium submits the form on that Enter while the syllable
// is still in composition, and the composition commits afterwards (a second
// input, and a second submission at the next Enter); Safari commits first and
// then sends Enter again. Here that Enter never submits by itself: the form is
// submitted once the syllable has been committed into the field (within half
// a second), and the same form sent again at once with the same fields is
// dropped. So the last syllable is always in what is sent, and it is sent once.

const COMMIT_WITHIN_MS = 500;
const SECOND_SUBMIT_MS = 400;

function composingEnter(event) {
  return event.key === "Enter" && (event.isComposing || event.keyCode === 229);
}

document.addEventListener(
  "keydown",
  (event) => {
    const field = event.target;
    if (!composingEnter(event) || !(field instanceof HTMLInputElement) || !field.form) return;
    event.preventDefault();
    field.dataset.submitOnCommit = String(performance.now());
  },
  true,
);

document.addEventListener(
  "compositionend",
  (event) => {
    const field = event.target;
    if (!(field instanceof HTMLInputElement) || !field.dataset.submitOnCommit) return;
    const asked = Number(field.dataset.submitOnCommit);
    delete field.dataset.submitOnCommit;
    if (performance.now() - asked > COMMIT_WITHIN_MS || !field.form) return;
    // After the committed syllable's own input event has put it in the field.
    setTimeout(() => field.form.requestSubmit(), 0);
  },
  true,
);

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const now = performance.now();
    const sent = JSON.stringify([...new FormData(form)].map(([name, value]) => [name, String(value)]));
    const last = Number(form.dataset.submittedAt || 0);
    if (last && now - last < SECOND_SUBMIT_MS && form.dataset.submitted === sent) {
      event.preventDefault(); // the same form with the same fields, again at once
      event.stopImmediatePropagation();
      return;
    }
    form.dataset.submittedAt = String(now);
    form.dataset.submitted = sent;
  },
  true,
);
