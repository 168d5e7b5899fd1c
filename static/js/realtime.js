// PipeCRM realtime: the small glue around htmx's ws extension (static/vendor/htmx/ws.js), through
// its documented events only. Needs htmx, the ws extension and Bootstrap. No inline scripts (CSP).
//
// Sockets: an element with ws-connect under <body hx-ext="ws"> opens one; the server sends HTML
// whose top-level elements are swapped out of band (hx-swap-oob). The pages use:
//   <body ws-connect="/ws/notifications/">                  bell count, toasts, menu rows
//   <div id="board-socket" ws-connect="/ws/boards/<wf>/?…">  board cards, headers, totals
//   <div ws-connect="/ws/tables/<type>/?…">                  table rows, the "N new" bar
//   <div ws-connect="/ws/leads/<id>/">                       detail page refresh, #presence
// Each socket element sits outside every region htmx swaps or processes on its own (#board,
// #rows, forms, elements with hx-* attributes): the extension opens a socket for each
// ws-connect element under every element htmx processes, so one inside such a region would be
// opened twice. A region whose filters change replaces its socket element out of band, which
// closes the old socket and opens the new one (crm/records/realtime.py socket_moved).
//
// Reconnect: the extension reopens a socket closed abnormally (1006, 1011, 1012, 1013) with
// backoff; one the server refused (4401, 4403) stays closed. What was published while it was down
// is lost, so every RE-open fires "realtimeRefresh" on <body>, and the regions listening for it
// (#board, the table rows, detail pages, the bell) re-fetch themselves.
//
// Board cards arrive as <div hx-swap-oob='afterbegin:[data-step-id="<step>"] [data-board-list]'
// data-realtime-upsert><article id="card-<pk>">…</div>: on top of their column. A card already in
// that column is replaced in place instead (an edit keeps its place); a copy in another column
// goes (a move). Removals are <div id="card-<pk>" hx-swap-oob="delete">.
(function () {
  "use strict";
  if (!window.htmx) return;

  var opened = new WeakSet();
  var refreshTimer = null;

  document.body.addEventListener("htmx:wsOpen", function (e) {
    if (!opened.has(e.target)) {
      opened.add(e.target);
      return;
    }
    // Several sockets of one page reconnect together after a server restart: refresh once.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { htmx.trigger(document.body, "realtimeRefresh"); }, 250);
  });

  document.body.addEventListener("htmx:oobBeforeSwap", function (e) {
    var fragment = e.detail.fragment, target = e.detail.target;
    if (!fragment || !fragment.hasAttribute || !fragment.hasAttribute("data-realtime-upsert")) return;
    var card = fragment.querySelector("[data-card-id][id]");
    var existing = card && document.getElementById(card.id);
    if (!existing) return;
    if (target.contains(existing)) {
      e.detail.shouldSwap = false;
      existing.replaceWith(card);
      htmx.process(card);
    } else {
      existing.remove();
    }
  });

  // Toasts pushed over a socket (crm/_notification_push.html) hide themselves after a while.
  htmx.onLoad(function (root) {
    if (!window.bootstrap || !root.querySelectorAll) return;
    var toasts = Array.prototype.slice.call(root.querySelectorAll("[data-autohide-toast]"));
    if (root.matches("[data-autohide-toast]")) toasts.push(root);
    toasts.forEach(function (el) {
      if (el.hasAttribute("data-toast-ready")) return;
      el.setAttribute("data-toast-ready", "true");
      el.addEventListener("hidden.bs.toast", function () { el.remove(); });
      bootstrap.Toast.getOrCreateInstance(el, { delay: 8000 }).show();
    });
  });

  // The table's "N new — refresh" bar refreshes the regions in place (its href reloads the page).
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("[data-realtime-refresh]") : null;
    if (!link) return;
    e.preventDefault();
    htmx.trigger(document.body, "realtimeRefresh");
  });
})();
