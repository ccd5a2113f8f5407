// A form render's one-time key (templates/submission_key.html) survives the back button. The
// browser fetches the page again on the way back (a cookie changed meanwhile), and the new
// render carries a new key: the key sent from this very page is kept in its own history entry
// when it is sent, and put back when the person comes back to that entry, so that sending it
// again is known as the same render (the portal then leads to what it filed). Another visit to
// the form is another history entry, with no key kept: a new form.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var input = form.querySelector && form.querySelector("input[data-submission-key]");
    if (!input) return;
    var state = Object.assign({}, window.history.state || {});
    state.submissionKeys = Object.assign({}, state.submissionKeys || {});
    state.submissionKeys[form.getAttribute("action") || ""] = input.value;
    try {
      window.history.replaceState(state, "");
    } catch (error) { /* no history state: the server's key still stops a double click */ }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var kept = window.history.state && window.history.state.submissionKeys;
    if (!kept) return;
    document.querySelectorAll("form").forEach(function (form) {
      var input = form.querySelector("input[data-submission-key]");
      var key = kept[form.getAttribute("action") || ""];
      if (input && key) input.value = key;
    });
  });
})();
