// The book page: copy its share link (a messenger shows its card: the title and the opening lines),
// and while the book's files are being made, ask every two seconds which are ready and enable their links.
const button = document.getElementById("copy-share");
button?.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(button.dataset.url);
    button.textContent = "복사했습니다";
  } catch {
    button.textContent = button.dataset.url;
  }
});

const files = document.querySelector(".book-files");
const preparing = () => files.querySelectorAll("a.preparing");
const status = document.getElementById("book-preparing");

// A link whose file is not made yet does nothing yet (its download would be refused with 503).
files?.addEventListener("click", (event) => {
  const link = event.target.closest("a.preparing");
  if (link) event.preventDefault();
});

async function waitForFiles(triesLeft) {
  if (!files || preparing().length === 0) return;
  try {
    const answer = await fetch(files.dataset.files, { headers: { Accept: "application/json" } });
    if (answer.ok) {
      const { ready } = await answer.json();
      for (const link of preparing()) {
        if (ready[link.dataset.format]) {
          link.classList.remove("preparing");
          link.removeAttribute("aria-disabled");
        }
      }
    }
  } catch {
    // the next try asks again
  }
  if (preparing().length === 0) {
    status.textContent = "";
  } else if (triesLeft > 0) {
    setTimeout(() => waitForFiles(triesLeft - 1), 2000);
  } else {
    status.textContent = "파일을 만들지 못했습니다. 잠시 뒤에 페이지를 새로 고쳐 주세요.";
  }
}

waitForFiles(90);
