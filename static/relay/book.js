// The book page: copy its share link (a messenger shows its card: the title and the opening lines).
const button = document.getElementById("copy-share");
button?.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(button.dataset.url);
    button.textContent = "복사했습니다";
  } catch {
    button.textContent = button.dataset.url;
  }
});
