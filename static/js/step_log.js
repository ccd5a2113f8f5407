// The step log comes again with every poll that finds a change: keep each step open or
// closed as the reader left it, rather than as the server first showed it (the current
// step open, the others closed). Any version of htmx: the log is watched as it is replaced.
(function () {
  var chosen = {}; // step key -> open, as the reader last set it

  document.addEventListener("click", function (event) {
    var summary = event.target.closest("#step-log summary");
    if (!summary) return;
    var details = summary.parentElement;
    // The click comes before the toggle: the reader wants the other state.
    chosen[details.dataset.stepKey] = !details.open;
  });

  function restore(node) {
    var steps = Array.prototype.slice.call(node.querySelectorAll("details[data-step-key]"));
    if (node.matches("details[data-step-key]")) steps.push(node);
    steps.forEach(function (details) {
      var wanted = chosen[details.dataset.stepKey];
      if (wanted !== undefined) details.open = wanted;
    });
  }

  new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.nodeType === Node.ELEMENT_NODE) restore(node);
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
})();
