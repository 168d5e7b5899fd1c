// PipeCRM AI chat: composer keys, suggestion chips, scrolling and de-duplication of live
// messages (streamed answers and tool steps arrive over the user's socket, aiagent/realtime.py;
// the Stop button is plain htmx, templates/aiagent/_stop_button.html). Loaded by the /ai/ page and the chat drawer of lead and deal pages (CSP: no inline
// scripts, so all behaviour lives here).
(function () {
  "use strict";
  if (window.pipecrmAiLoaded) return;
  window.pipecrmAiLoaded = true;

  function containers() {
    return document.querySelectorAll(".ai-messages");
  }

  // A message can arrive twice (live over the socket, then in the HTTP answer): keep one.
  function dedupe(container) {
    var seen = {};
    Array.prototype.slice.call(container.querySelectorAll("[id^='ai-msg-'], [id^='ai-call-']"))
      .forEach(function (el) {
        if (seen[el.id]) el.remove();
        else seen[el.id] = true;
      });
  }

  function scrollDown(container) {
    container.scrollTop = container.scrollHeight;
  }

  function refresh() {
    containers().forEach(function (c) {
      dedupe(c);
      scrollDown(c);
    });
  }

  document.addEventListener("DOMContentLoaded", refresh);
  document.body.addEventListener("htmx:afterSettle", refresh);

  // Live fragments (a streamed answer grows in frames, tool steps appear) keep the list at its
  // end only if the reader was there: someone scrolled up to read is not pulled down.
  var atEnd = new WeakMap();
  document.body.addEventListener("htmx:oobBeforeSwap", function () {
    containers().forEach(function (c) {
      atEnd.set(c, c.scrollHeight - c.scrollTop - c.clientHeight < 48);
    });
  });
  document.body.addEventListener("htmx:oobAfterSwap", function () {
    containers().forEach(function (c) {
      dedupe(c);
      if (atEnd.get(c) !== false) scrollDown(c);
    });
  });

  // Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (e) {
    var area = e.target;
    if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    if (!area.matches || !area.matches("form[data-ai-composer] textarea")) return;
    e.preventDefault();
    if (area.value.trim()) area.form.requestSubmit();
  });

  // Suggestion chips fill the composer and send.
  document.addEventListener("click", function (e) {
    var chip = e.target.closest("[data-ai-prompt]");
    if (!chip) return;
    var chat = chip.closest("[data-ai-chat]");
    var form = chat && chat.querySelector("form[data-ai-composer]");
    if (!form) return;
    form.querySelector("textarea").value = chip.getAttribute("data-ai-prompt");
    form.requestSubmit();
  });

  // Show the user's message at once and clear the composer; the server's answer replaces it.
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (!form.matches || !form.matches("form[data-ai-composer]")) return;
    var text = form.querySelector("textarea").value.trim();
    var chat = form.closest("[data-ai-chat]");
    var list = chat && chat.querySelector(".ai-messages");
    if (!text || !list) return;
    var empty = list.querySelector(".ai-empty");
    if (empty) empty.remove();
    var wrap = document.createElement("div");
    wrap.className = "ai-msg mb-2 ai-pending-echo";
    var row = document.createElement("div");
    row.className = "d-flex justify-content-end";
    var bubble = document.createElement("div");
    bubble.className = "ai-bubble ai-bubble-user opacity-75";
    bubble.textContent = text;
    row.appendChild(bubble);
    wrap.appendChild(row);
    list.appendChild(wrap);
    scrollDown(list);
  });
  document.body.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form.matches || !form.matches("form[data-ai-composer]")) return;
    if (e.detail.successful) {
      form.reset();
      var area = form.querySelector("textarea");
      if (area) area.focus();
    } else {
      document.querySelectorAll(".ai-pending-echo").forEach(function (el) { el.remove(); });
    }
  });
})();
