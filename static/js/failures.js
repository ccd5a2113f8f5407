// One answer to every htmx action that fails. htmx swaps nothing when the portal answers 4xx
// or 5xx, or cannot be reached, so without this the page would say nothing at all. The
// message goes where the person looks, right after the control they used (or the region that
// polls), in words: the answer's own alert when it has one (a spent budget says when to try
// again, a conflict says what changed), else what the status means. The page is left as it
// is, with whatever was typed; the message goes once the same control succeeds.
(function () {
  "use strict";

  var NETWORK = "The portal could not be reached: nothing was sent. Check the connection, " +
    "then try again; what you typed is still here.";
  var BY_STATUS = {
    401: "Your session has ended: nothing was done. Sign in again in a new tab, then try " +
      "again here; what you typed is still here.",
    403: "The portal refused this: you may not do it, or this page is out of date. Reload it " +
      "to see what you may do now.",
    404: "The portal no longer finds this: reload the page.",
    409: "This changed meanwhile: nothing was done. Reload the page to see it as it is now.",
    429: "Too many cloud actions in the last minute: nothing was done. Wait, then try again."
  };
  var serial = 0;

  // The answer's own alert, as text and the portal's own links (a way to sign in again):
  // nothing else of the answer reaches the page.
  function alertOf(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0 || !xhr.responseText) return null;
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var found = page.querySelector("main [role=alert]:not(#integrity-alerts)") ||
      page.querySelector("[role=alert]:not(#integrity-alerts)");
    if (!found || !found.textContent.trim()) return null;
    var parts = [];
    found.childNodes.forEach(function (node) {
      var href = node.nodeName === "A" ? node.getAttribute("href") || "" : "";
      var url = href ? new URL(href, window.location.href) : null;
      if (url && url.origin === window.location.origin && href.charAt(0) === "/") {
        var link = document.createElement("a");
        link.href = url.pathname + url.search + url.hash;
        link.textContent = node.textContent;
        if (node.getAttribute("target") === "_blank") {
          link.target = "_blank";
          link.rel = "noopener";
        }
        parts.push(link);
      } else {
        parts.push(document.createTextNode(node.textContent.replace(/\s+/g, " ")));
      }
    });
    return parts;
  }

  // What to say: a list of nodes (text, links).
  function messageFor(xhr) {
    var status = xhr.status;
    var parts = alertOf(xhr);
    if (!parts) {
      parts = [document.createTextNode(BY_STATUS[status] || (status >= 500
        ? "The portal failed to answer (" + status + "): nothing you typed is lost; try " +
          "again in a moment."
        : "The portal refused this (" + status + ")."))];
    }
    var wait = xhr.getResponseHeader("Retry-After");
    var said = parts.map(function (part) { return part.textContent; }).join("");
    if (status === 429 && wait && said.indexOf(wait + " s") < 0) {
      parts.push(document.createTextNode(" Try again in " + wait + " s."));
    }
    return parts;
  }

  // The control that was used: the button that submitted a form, else the element that made
  // the request (a button, a link, a polled region).
  function anchorOf(detail) {
    var trigger = detail.requestConfig && detail.requestConfig.triggeringEvent;
    return (trigger && trigger.submitter) || detail.elt;
  }

  function keyOf(anchor) {
    if (!anchor.dataset.failureKey) {
      anchor.dataset.failureKey = anchor.id || "failure-" + (++serial);
    }
    return anchor.dataset.failureKey;
  }

  function clear(anchor) {
    if (!anchor || !anchor.dataset || !anchor.dataset.failureKey) return;
    var box = document.querySelector('[data-failure-for="' + anchor.dataset.failureKey + '"]');
    if (box) box.remove();
  }

  function show(detail, text) {
    var anchor = anchorOf(detail);
    if (!anchor || !anchor.isConnected) return;
    clear(anchor);
    var box = document.createElement("p");
    box.className = "message error failure";
    box.setAttribute("role", "alert");
    box.dataset.failureFor = keyOf(anchor);
    (typeof text === "string" ? [document.createTextNode(text)] : text).forEach(function (part) {
      box.appendChild(part);
    });
    anchor.insertAdjacentElement("afterend", box);
  }

  // The CSRF token as the browser holds it now: signing in again (in another tab, after the
  // session ended) sets a new one, which this page's own copy no longer matches.
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }
  // Whom the page was opened for: the portal refuses a post from a page opened for someone
  // else than who is signed in now (RenderedForMiddleware), whatever the token.
  function renderedFor() {
    return (document.body && document.body.dataset.user) || "";
  }
  // A form sent the plain way (no htmx) carries both too.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.querySelectorAll || (form.method || "").toLowerCase() !== "post") return;
    var token = csrfToken();
    if (token) {
      form.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
        input.value = token;
      });
    }
    var who = form.querySelector("input[name=rendered_for]");
    if (!who) {
      who = document.createElement("input");
      who.type = "hidden";
      who.name = "rendered_for";
      form.appendChild(who);
    }
    who.value = renderedFor();
  }, true);
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-Rendered-For"] = renderedFor();
    var token = csrfToken();
    if (!token) return;
    event.detail.headers["X-CSRFToken"] = token;
    if (event.detail.parameters && event.detail.parameters.csrfmiddlewaretoken !== undefined) {
      event.detail.parameters.csrfmiddlewaretoken = token;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    show(event.detail, messageFor(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function (event) {
    show(event.detail, NETWORK);
  });
  document.addEventListener("htmx:timeout", function (event) {
    show(event.detail, NETWORK);
  });
  // Before the swap too: an element that replaces itself (a poll) is gone by afterRequest,
  // and its events no longer reach the document.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.isError) clear(anchorOf(event.detail));
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) clear(anchorOf(event.detail));
  });
})();
