// A form render's one-time key (templates/submission_key.html) survives the back button. The
// browser fetches the page again on the way back (a cookie changed meanwhile), and the new
// render carries a new key: the key this tab last sent from that form is put back, so that
// sending it again is known as the same render (the portal then leads to what it filed). Only
// on a history traversal: a form opened afresh is a new one.
(function () {
  var STORE = "portal:sent-submission-keys";

  function sent() {
    try {
      return JSON.parse(window.sessionStorage.getItem(STORE) || "{}");
    } catch (error) {
      return {};
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var input = form.querySelector && form.querySelector("input[data-submission-key]");
    if (!input) return;
    var keys = sent();
    keys[form.action] = input.value;
    try {
      window.sessionStorage.setItem(STORE, JSON.stringify(keys));
    } catch (error) { /* storage off: the server's key still stops a double click */ }
  }, true);

  function restore() {
    var entries = performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    if (!entries.length || entries[0].type !== "back_forward") return;
    var keys = sent();
    document.querySelectorAll("form").forEach(function (form) {
      var input = form.querySelector("input[data-submission-key]");
      if (input && keys[form.action]) input.value = keys[form.action];
    });
  }

  document.addEventListener("DOMContentLoaded", restore);
})();
