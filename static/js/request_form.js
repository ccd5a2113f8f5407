// The request form. After it is swapped in place (a row added or removed, a dry run), put the
// keyboard focus where the person's attention is, not back at the top of the page.
var lastAction = "";

document.addEventListener("htmx:beforeRequest", function (event) {
  var element = event.detail.elt;
  lastAction = element && element.name === "action" ? element.value : "";
});

document.addEventListener("htmx:afterSettle", function () {
  var form = document.getElementById("request-form");
  if (!form || !lastAction) return;
  var action = lastAction;
  lastAction = "";
  // Settling comes a moment after the swap: someone quick may already be typing in a field
  // of the new form. Their focus wins; moving it now would send their keys to another field.
  var active = document.activeElement;
  if (active && active !== document.body && form.contains(active) && active.matches("input, select, textarea")) return;
  var target = null;
  if (action === "add-resource") {
    target = form.querySelector("#field-resources tbody tr:last-child select, #field-resources tbody tr:last-child input");
  } else if (action === "add-tag") {
    target = form.querySelector("#field-tags tbody tr:last-child input");
  } else if (action.indexOf("remove-resource-") === 0) {
    target = form.querySelector("button[value='add-resource']");
  } else if (action.indexOf("remove-tag-") === 0) {
    target = form.querySelector("button[value='add-tag']");
  } else if (action === "load-balancers") {
    target = form.querySelector("#lb-picker input[name='pick_resource_id']:not(:disabled)") ||
      form.querySelector("#lb-picker section");
  } else if (action === "pick-load-balancer") {
    target = form.querySelector("#lb-picker-error") ||
      form.querySelector("#field-resources tbody tr:last-child select");
  } else {
    target = form.querySelector("#error-summary") || form.querySelector("#dry-run");
  }
  if (target) target.focus();
});

// Every resource row of a service is of the service's type: choosing the type sets the rows'
// (in the page, with no request, so nothing typed meanwhile can be overwritten).
document.addEventListener("change", function (event) {
  var chosen = event.target;
  if (!chosen.matches || !chosen.matches("#request-form select[name='service_resource_type']")) return;
  document.querySelectorAll("#request-form select[name$='-resource_type']").forEach(function (row) {
    row.value = chosen.value;
  });
  // An open load balancer picker lists the type chosen before: list the new one's.
  var picker = document.getElementById("lb-picker");
  if (picker && picker.children.length) {
    document.querySelector("#request-form button[value='load-balancers']").click();
    lastAction = ""; // the list follows the choice; the focus stays on it
  }
});
