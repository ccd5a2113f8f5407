// What an approver types is never lost to the page's poll. The poll replaces the decision
// forms when the request moves on (a new revision, or someone else decided it): a comment
// typed there would go with them. It is kept instead, above whatever replaced them, with why
// it was not sent; and it stays through the polls that follow, until the page is reloaded.
// (Approvals added to the same revision leave the forms as they are: the server sends none.)
(function () {
  "use strict";

  function revisionOf(root) {
    var input = root && root.querySelector("input[name=revision]");
    return input ? input.value : "";
  }

  function typed(root) {
    var found = [];
    root.querySelectorAll("form textarea").forEach(function (area) {
      if (!area.value.trim()) return;
      var label = root.querySelector('label[for="' + area.id + '"]');
      found.push({ label: label ? label.textContent.trim() : "Comment", text: area.value });
    });
    return found;
  }

  function note(comments, before, after) {
    var box = document.createElement("section");
    box.className = "message warning kept-comment";
    box.setAttribute("role", "alert");
    var why = document.createElement("p");
    why.textContent = after
      ? "Revision " + after + " replaced revision " + before + " while you were writing: " +
        "what you typed was not sent. Read the new revision before you decide."
      : "This request is no longer waiting for a decision: what you typed was not sent.";
    box.appendChild(why);
    comments.forEach(function (comment) {
      var label = document.createElement("strong");
      label.textContent = comment.label;
      var text = document.createElement("blockquote");
      text.textContent = comment.text;
      box.appendChild(label);
      box.appendChild(text);
    });
    return box;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var current = event.detail.target;
    if (!current || current.id !== "decision-forms") return;
    var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    if (!incoming) return;
    var notes = Array.prototype.slice.call(current.querySelectorAll(".kept-comment"));
    var comments = typed(current);
    var before = revisionOf(current);
    var after = revisionOf(incoming);
    if (comments.length && before !== after) notes.push(note(comments, before, after));
    notes.reverse().forEach(function (kept) {
      incoming.insertBefore(kept, incoming.firstChild);
    });
  });
})();
