// Copy buttons: <button data-copy="#element-id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = "value" in source ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text.trim());
  } catch {
    // Clipboard API refused (plain http, old browser): select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// A time zone field still at UTC starts from the browser's own zone: a guess, saved only when
// the user saves the form (times on every page and report days follow the account's zone).
for (const input of document.querySelectorAll("input[name=time_zone]")) {
  const guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (guess && (!input.value || input.value === "UTC")) input.value = guess;
}
