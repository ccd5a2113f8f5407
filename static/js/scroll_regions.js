// A table wider than its box scrolls inside it (on a phone): while it does, the keyboard can
// reach the box (Tab to it, then the arrow keys) and a screen reader announces what it holds.
(function () {
  function title(box) {
    for (var el = box.previousElementSibling; el; el = el.previousElementSibling) {
      if (/^H[1-6]$/.test(el.tagName)) return el.textContent.trim();
    }
    var part = box.closest("article, fieldset, section");
    var heading = part && part.querySelector("header strong, legend strong, legend, h2");
    return heading ? heading.textContent.trim() : "Table";
  }

  function mark() {
    document.querySelectorAll(".table-scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", title(box) + " (scrolls sideways)");
      } else if (box.hasAttribute("tabindex")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSettle", mark);
  window.addEventListener("resize", mark);
})();
