// PipeCRM realtime (issue 9): the small glue around htmx's ws extension (static/vendor/htmx/ws.js).
//
// Needs htmx, the ws extension and Bootstrap loaded before it. No inline scripts (CSP).
//
// Sockets: any element with ws-connect inside <body hx-ext="ws"> opens one; the server sends
// HTML whose top-level elements are swapped out of band (hx-swap-oob). The pages use:
//   <body ws-connect="/ws/notifications/">            bell count, toasts, menu rows
//   <div hidden ws-connect="/ws/boards/<workflow>/?…">  board cards and column headers
//   <div hidden ws-connect="/ws/tables/lead/?…">        table rows, the "N new" bar
//   <div hidden ws-connect="/ws/leads/<id>/">           detail page refresh, #presence
//
// Reconnect: the ws extension reopens a socket closed abnormally (1006, 1011, 1012, 1013) with
// "full-jitter" exponential backoff (up to 64 s); a socket the server refused or closed on
// purpose (4401, 4403) stays closed. Whatever was published while a socket was down is lost,
// so every RE-open fires "realtimeRefresh" on <body>: the regions listening for it
// (hx-trigger="… realtimeRefresh from:body": #board, #rows, #lead-main, #deal-detail, the bell)
// re-fetch themselves. The first open of a socket does not (the page was just rendered).
//
// Board cards (wfm/_board.html contract): a card arrives inside
//   <div hx-swap-oob='afterbegin:[data-step-id="<step>"] [data-board-list]' data-realtime-upsert>
// i.e. "put it on top of its column". If that column already holds the card, it is replaced in
// place instead (an update keeps its position); if another column holds it, that copy goes (a
// move). Removals are <div id="card-<pk>" hx-swap-oob="delete" data-realtime-remove>. Both keep
// the columns' data-loaded counts right for board.js's "load more".
(function () {
  "use strict";
  if (!window.htmx) return;

  // One socket per ws-connect element. The extension (2.0.4) opens a socket for every
  // ws-connect element under each node htmx processes, so an element inside another processed
  // region (the board's socket inside #board) gets a second socket on page load. The copies are
  // made in one synchronous pass: within it, a URL asked for again gets the socket already
  // opening, and only the newest listener of the extension's wrappers keeps receiving, so each
  // message is swapped once. (The newest wrapper is the one the element keeps and reconnects.)
  var createSocket = window.htmx.createWebSocket;
  var opening = {};
  if (createSocket) {
    window.htmx.createWebSocket = function (url) {
      var socket = opening[url];
      if (socket && socket.readyState === WebSocket.CONNECTING) return socket;
      socket = createSocket(url);
      onlyNewestMessageListener(socket);
      opening[url] = socket;
      setTimeout(function () { if (opening[url] === socket) delete opening[url]; }, 0);
      return socket;
    };
  }

  function onlyNewestMessageListener(socket) {
    var add = socket.addEventListener.bind(socket);
    var remove = socket.removeEventListener.bind(socket);
    var current = null;
    socket.addEventListener = function (type, listener, options) {
      if (type === "message") {
        if (current) remove("message", current);
        current = listener;
      }
      add(type, listener, options);
    };
  }

  var opened = new WeakSet();
  var refreshTimer = null;

  function refreshRegions() {
    // Several sockets of one page reconnect together after a server restart: refresh once.
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      window.htmx.trigger(document.body, "realtimeRefresh");
    }, 250);
  }

  document.body.addEventListener("htmx:wsOpen", function (e) {
    var socketElt = e.target;
    if (opened.has(socketElt)) refreshRegions();
    else opened.add(socketElt);
  });

  function columnOf(el) { return el && el.closest ? el.closest("[data-step-id]") : null; }

  function bump(column, delta) {
    if (!column || !column.hasAttribute("data-loaded")) return;
    var n = parseInt(column.getAttribute("data-loaded") || "0", 10) + delta;
    column.setAttribute("data-loaded", String(Math.max(0, n)));
  }

  document.body.addEventListener("htmx:oobBeforeSwap", function (e) {
    var fragment = e.detail.fragment;
    var target = e.detail.target;
    if (!fragment || !fragment.hasAttribute || !target) return;
    if (fragment.hasAttribute("data-realtime-upsert")) {
      var card = fragment.querySelector("[data-card-id][id]");
      var existing = card ? document.getElementById(card.id) : null;
      if (existing && target.contains(existing)) {
        e.detail.shouldSwap = false;
        existing.replaceWith(card);
        window.htmx.process(card);
        return;
      }
      if (existing) {
        bump(columnOf(existing), -1);
        existing.remove();
      }
      bump(columnOf(target), +1);
    } else if (fragment.hasAttribute("data-realtime-remove") && target.hasAttribute("data-card-id")) {
      bump(columnOf(target), -1);
    }
  });

  // Toasts pushed over a socket (crm/_notification_push.html) hide themselves after a while.
  window.htmx.onLoad(function (root) {
    if (!window.bootstrap || !root || !root.querySelectorAll) return;
    var toasts = Array.prototype.slice.call(root.querySelectorAll("[data-autohide-toast]"));
    if (root.matches && root.matches("[data-autohide-toast]")) toasts.push(root);
    toasts.forEach(function (el) {
      if (el.hasAttribute("data-toast-ready")) return;
      el.setAttribute("data-toast-ready", "true");
      el.addEventListener("hidden.bs.toast", function () { el.remove(); });
      window.bootstrap.Toast.getOrCreateInstance(el, { delay: 8000 }).show();
    });
  });

  // The table's "N new leads — refresh" bar: refresh the regions in place (its href reloads
  // the whole page without JavaScript).
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("[data-realtime-refresh]") : null;
    if (!link) return;
    e.preventDefault();
    window.htmx.trigger(document.body, "realtimeRefresh");
  });
})();
