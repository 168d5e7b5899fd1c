// PipeCRM kanban boards over WFM steps (templates/wfm/_board.html, wfm/boards.py).
//
// Needs static/vendor/sortablejs/Sortable.min.js, htmx and static/js/app.js
// (window.pipecrmToast) loaded before it. No inline scripts or hx-on (CSP, allowEval false).
//
// Markup contract:
//   [data-board]                        the board; initialised on load and after htmx swaps
//     [data-step-id] (a column)         data-loaded="<cards loaded from the server>",
//                                       data-needs-reason when moves into it need a reason
//       #board-head-<step id>           the column header (replaced after a move)
//       [data-board-list]               the SortableJS list holding the cards
//         [data-card-id]                a card; draggable only with data-move-url;
//                                       data-reason-url: modal asking the reason (GET)
//       [data-board-more][data-more-url] "load more" sentinel
//
// Dropping a card on another column:
//   - column has data-needs-reason and the card a data-reason-url: the card goes back and the
//     reason modal opens (GET <reason url>?to_step=<id> into #modal-dialog); saving it fires
//     recordSaved, which refreshes the board;
//   - otherwise POST to_step=<id> (form data, X-CSRFToken, HX-Request) to data-move-url.
//     2xx: the body is HTML: the card's new markup, plus elements carrying hx-swap-oob="true"
//     and an id (the two column headers), each replacing the element with that id.
//     Else: the body is the SPEC §7 JSON error; the card snaps back to where it was and
//     error.message is shown with pipecrmToast; code "reason_required" opens the reason modal.
//   A "board:moved" event (detail: {cardId, fromStepId, toStepId}) bubbles from the new card.
//
// Load more: when a sentinel scrolls into view, GET <more url>&offset=<data-loaded>. The body
// is the next cards and, if more follow, a new sentinel. Cards already on the board (moved
// there meanwhile) are skipped. Moves adjust data-loaded (-1 where the card left, +1 where it
// arrived) so the next page starts where it should.
(function () {
  "use strict";

  function csrfToken() {
    var headers = document.body.getAttribute("hx-headers");
    if (headers) {
      try {
        var parsed = JSON.parse(headers);
        if (parsed["X-CSRFToken"]) return parsed["X-CSRFToken"];
      } catch (e) { /* fall back to the cookie */ }
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function toast(message, level) {
    if (window.pipecrmToast) window.pipecrmToast(message, level || "info");
  }

  function parseHTML(text) {
    var template = document.createElement("template");
    template.innerHTML = text.trim();
    return template.content;
  }

  function columnOf(el) { return el ? el.closest("[data-step-id]") : null; }

  function bump(column, delta) {
    if (!column) return;
    var n = parseInt(column.getAttribute("data-loaded") || "0", 10) + delta;
    column.setAttribute("data-loaded", String(Math.max(0, n)));
  }

  // Put a card back at its old index in its old list.
  function snapBack(card, fromList, oldIndex) {
    var cards = Array.prototype.filter.call(fromList.children, function (el) {
      return el !== card;
    });
    var before = cards[oldIndex] || null;
    fromList.insertBefore(card, before);
  }

  function openReasonModal(card, stepId) {
    var url = card.getAttribute("data-reason-url");
    if (!url || !window.htmx) return false;
    url += (url.indexOf("?") === -1 ? "?" : "&") + "to_step=" + encodeURIComponent(stepId);
    window.htmx.ajax("GET", url, { target: "#modal-dialog", swap: "innerHTML" });
    return true;
  }

  function swapOutOfBand(fragment) {
    fragment.querySelectorAll("[hx-swap-oob][id]").forEach(function (el) {
      var current = document.getElementById(el.id);
      el.removeAttribute("hx-swap-oob");
      if (current) {
        current.replaceWith(el);
        if (window.htmx) window.htmx.process(el);
      }
      else el.remove();
    });
  }

  function errorMessage(response, text) {
    try {
      var data = JSON.parse(text);
      if (data && data.error) return { message: data.error.message, code: data.error.code };
    } catch (e) { /* not JSON */ }
    if (response.status === 403) return { message: "You may not move this record.", code: "permission_denied" };
    if (response.status === 404) return { message: "This record no longer exists or is not visible to you.", code: "not_found" };
    return { message: "The move failed (" + response.status + ").", code: "error" };
  }

  function move(evt) {
    var card = evt.item;
    var fromList = evt.from;
    var toList = evt.to;
    if (fromList === toList) return; // order inside a column is the server's
    var fromColumn = columnOf(fromList);
    var toColumn = columnOf(toList);
    var stepId = toColumn.getAttribute("data-step-id");
    var url = card.getAttribute("data-move-url");
    var back = function () { snapBack(card, fromList, evt.oldIndex); };

    if (toColumn.hasAttribute("data-needs-reason") && card.hasAttribute("data-reason-url")) {
      back();
      openReasonModal(card, stepId);
      return;
    }
    if (!url) { back(); return; }

    card.classList.add("is-saving");
    card.setAttribute("aria-busy", "true");
    var body = new FormData();
    body.append("to_step", stepId);
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true", "Accept": "text/html, application/json" },
    }).then(function (response) {
      return response.text().then(function (text) { return { response: response, text: text }; });
    }).then(function (result) {
      card.classList.remove("is-saving");
      card.removeAttribute("aria-busy");
      if (!result.response.ok) {
        var error = errorMessage(result.response, result.text);
        back();
        if (error.code === "reason_required" && openReasonModal(card, stepId)) return;
        toast(error.message, "error");
        return;
      }
      var fragment = parseHTML(result.text);
      swapOutOfBand(fragment);
      var fresh = fragment.querySelector("[data-card-id]");
      var placed = card;
      if (fresh) {
        card.replaceWith(fresh);
        placed = fresh;
        if (window.htmx) window.htmx.process(fresh);
      }
      bump(fromColumn, -1);
      bump(toColumn, +1);
      placed.dispatchEvent(new CustomEvent("board:moved", {
        bubbles: true,
        detail: {
          cardId: placed.getAttribute("data-card-id"),
          fromStepId: fromColumn.getAttribute("data-step-id"),
          toStepId: stepId,
        },
      }));
    }).catch(function () {
      card.classList.remove("is-saving");
      card.removeAttribute("aria-busy");
      back();
      toast("Network error: the move was not saved. Try again.", "error");
    });
  }

  function loadMore(sentinel, observer) {
    if (sentinel.getAttribute("data-loading")) return;
    var column = columnOf(sentinel);
    var list = column.querySelector("[data-board-list]");
    var url = sentinel.getAttribute("data-more-url");
    url += (url.indexOf("?") === -1 ? "?" : "&") + "offset=" + (column.getAttribute("data-loaded") || "0");
    sentinel.setAttribute("data-loading", "true");
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (text) {
        observer.unobserve(sentinel);
        var fragment = parseHTML(text);
        var next = fragment.querySelector("[data-board-more]");
        var added = 0;
        fragment.querySelectorAll("[data-card-id]").forEach(function (card) {
          added += 1;
          var id = card.getAttribute("data-card-id");
          if (document.querySelector('[data-board] [data-card-id="' + CSS.escape(id) + '"]')) return;
          list.appendChild(card);
          if (window.htmx) window.htmx.process(card);
        });
        bump(column, added);
        if (next) {
          sentinel.replaceWith(next);
          observer.observe(next);
        } else {
          sentinel.remove();
        }
      })
      .catch(function () {
        sentinel.removeAttribute("data-loading");
        sentinel.textContent = "Could not load more; scroll again to retry.";
      });
  }

  function initBoard(board) {
    if (board.hasAttribute("data-board-ready")) return;
    board.setAttribute("data-board-ready", "true");
    board.querySelectorAll("[data-board-list]").forEach(function (list) {
      window.Sortable.create(list, {
        group: "board",
        draggable: "[data-move-url]",
        sort: false,
        animation: 120,
        ghostClass: "is-ghost",
        chosenClass: "is-chosen",
        dragClass: "is-dragging",
        forceFallback: false,
        onEnd: move,
      });
    });
    var observers = {};
    board.querySelectorAll("[data-step-id]").forEach(function (column) {
      var body = column.querySelector(".board-column-body");
      observers[column.getAttribute("data-step-id")] = new IntersectionObserver(function (entries, observer) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) loadMore(entry.target, observer);
        });
      }, { root: body, rootMargin: "0px 0px 200px 0px" });
      var sentinel = column.querySelector("[data-board-more]");
      if (sentinel) observers[column.getAttribute("data-step-id")].observe(sentinel);
    });
  }

  function initAll(root) {
    if (!window.Sortable) return;
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-board]")) initBoard(scope);
    scope.querySelectorAll("[data-board]").forEach(initBoard);
  }

  if (window.htmx) window.htmx.onLoad(initAll);
  else document.addEventListener("DOMContentLoaded", function () { initAll(document); });
})();
