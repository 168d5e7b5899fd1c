// PipeCRM boards (templates/records/board.html, crm/records/boards.py): drag and drop.
// Needs SortableJS and htmx; app.js turns an error response into a toast (error.message).
//
// Cards ([data-card-id]) with a data-move-url are draggable between the columns' lists
// ([data-step-id] [data-board-list]). A drop POSTs to_step through htmx.ajax; the answer is
// the card's new markup (it replaces the dragged card) and, out of band, the column headers
// and totals. A refused move (4xx, SPEC §7 JSON) puts the card back where it was. A column
// marked data-needs-reason (lost, disqualified) opens the card's data-reason-url form
// instead; saving it fires recordSaved, which refreshes the board.
// "Load more" is plain htmx (the sentinel's hx-trigger="intersect once"); here we only drop a
// loaded card that is on the board already (dragged or pushed into that column meanwhile).
(function () {
  "use strict";
  var origins = new WeakMap(); // a card in flight → where it came from

  function putBack(card) {
    var origin = origins.get(card);
    origins.delete(card);
    if (origin) origin.list.insertBefore(card, origin.next && origin.next.parentNode === origin.list ? origin.next : null);
  }

  function dropped(evt) {
    var card = evt.item, column = evt.to.closest("[data-step-id]");
    if (evt.from === evt.to || !column) return; // the order inside a column is the server's
    origins.set(card, { list: evt.from, next: evt.from.children[evt.oldIndex] || null });
    var step = column.getAttribute("data-step-id");
    if (column.hasAttribute("data-needs-reason") && card.hasAttribute("data-reason-url")) {
      putBack(card);
      var url = card.getAttribute("data-reason-url");
      htmx.ajax("GET", url + (url.indexOf("?") < 0 ? "?" : "&") + "to_step=" + encodeURIComponent(step),
        { target: "#modal-dialog", swap: "innerHTML" });
      return;
    }
    htmx.ajax("POST", card.getAttribute("data-move-url"),
      { source: card, target: card, swap: "outerHTML", values: { to_step: step } });
  }

  function refused(e) { if (origins.has(e.detail.elt)) putBack(e.detail.elt); }
  document.body.addEventListener("htmx:responseError", refused);
  document.body.addEventListener("htmx:sendError", refused);

  htmx.onLoad(function (root) {
    if (root.matches("[data-card-id]") && document.querySelectorAll("#" + CSS.escape(root.id)).length > 1) {
      root.remove();
      return;
    }
    root.querySelectorAll("[data-board-list]").forEach(function (list) {
      if (window.Sortable && !Sortable.get(list)) {
        Sortable.create(list, {
          group: "board", draggable: "[data-move-url]", sort: false, animation: 120,
          delay: 200, delayOnTouchOnly: true, // a swipe scrolls the board; a long press drags
          ghostClass: "is-ghost", chosenClass: "is-chosen", onEnd: dropped,
        });
      }
    });
  });
})();
