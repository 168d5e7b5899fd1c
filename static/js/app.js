// PipeCRM app shell: modals, toasts, theme toggle and HTMX error handling.
(function () {
  "use strict";

  function toast(message, level) {
    var container = document.getElementById("toasts");
    if (!container) return;
    var el = document.createElement("div");
    var bg = { success: "success", error: "danger", warning: "warning", info: "primary" }[level] || "primary";
    el.className = "toast align-items-center border-0 text-bg-" + bg;
    el.setAttribute("role", level === "error" ? "alert" : "status");
    var row = document.createElement("div");
    row.className = "d-flex";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", "Close");
    row.appendChild(body);
    row.appendChild(close);
    el.appendChild(row);
    container.appendChild(el);
    var t = bootstrap.Toast.getOrCreateInstance(el, { delay: level === "error" ? 8000 : 4000 });
    el.addEventListener("hidden.bs.toast", function () { el.remove(); });
    t.show();
  }
  window.pipecrmToast = toast;

  // Theme toggle.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("#theme-toggle");
    if (!btn) return;
    var html = document.documentElement;
    var next = html.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
    html.setAttribute("data-bs-theme", next);
    localStorage.setItem("pipecrm-theme", next);
  });

  // Modals: any HTMX response swapped into #modal-dialog opens the modal.
  // Its [autofocus] field gets the focus once the modal is shown (Bootstrap's focus trap takes
  // it for the dialog at the end of the fade), or at once when the modal is already open (a form
  // re-rendered with its errors). A field the user chose meanwhile keeps it: the focus is never
  // moved from under someone typing (htmx's own autofocus, 20 ms after the swap, is left out
  // for that reason).
  var modalEl = document.getElementById("modal");
  var modalFocus = { field: null, chosen: null };
  function focusModal() {
    var field = modalFocus.chosen || modalFocus.field;
    modalFocus.field = modalFocus.chosen = null;
    if (field && field.isConnected && document.activeElement !== field) field.focus();
  }
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "modal-dialog" && e.detail.xhr.status !== 204) {
      var first = e.detail.target.querySelector("[autofocus]");
      if (first) first.removeAttribute("autofocus");
      modalFocus.field = first;
      modalFocus.chosen = null;
      if (modalEl.classList.contains("show")) focusModal();
      else bootstrap.Modal.getOrCreateInstance(modalEl).show();
    }
  });
  if (modalEl) {
    modalEl.addEventListener("shown.bs.modal", focusModal);
    modalEl.addEventListener("focusin", function (e) {
      if (modalFocus.field && e.target !== modalEl && e.target.matches("input, select, textarea")) {
        modalFocus.chosen = e.target;
      }
    });
    modalEl.addEventListener("hidden.bs.modal", function () {
      document.getElementById("modal-dialog").innerHTML = "";
    });
  }
  // A 204 answer to a modal form must not empty the dialog before it closes.
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status === 204) e.detail.shouldSwap = false;
    // Forms re-rendered with errors come back as 422: swap them in.
    if (e.detail.xhr.status === 422) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  document.body.addEventListener("closeModal", function () {
    if (modalEl) bootstrap.Modal.getOrCreateInstance(modalEl).hide();
  });
  document.body.addEventListener("showToast", function (e) {
    toast(e.detail.message || e.detail.value, e.detail.level || "info");
  });

  // A change sent from inside a region that refreshes live (a quick log, an applied AI
  // suggestion) makes the server push a refresh of that region, which may land before the
  // change's own answer. Swapped in at once, it would replace the element that sent the change:
  // the answer (the saved state, or the input with its errors) and its events (the toast) would
  // then go to the old copy, out of the page, and a quick log would get back what was just
  // saved. So a GET the page makes on its own (a pushed refresh, recordSaved, realtimeRefresh:
  // no user event behind it) that would replace an element whose change is still on the way is
  // not swapped, and is made again once that answer is in. A GET the user asked for is not held.
  var sending = [];
  function isGet(config) { return String(config.verb).toLowerCase() === "get"; }
  document.body.addEventListener("htmx:beforeSend", function (e) {
    var elt = e.detail.elt, config = e.detail.requestConfig;
    if (!config || isGet(config)) return;
    sending.push(elt);
    elt.addEventListener("htmx:afterRequest", function () {
      sending = sending.filter(function (other) { return other !== elt; });
    }, { once: true });
  });
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target, source = e.detail.elt, config = e.detail.requestConfig;
    if (!config || !isGet(config) || !target) return;
    if (config.triggeringEvent && config.triggeringEvent.isTrusted) return;
    var busy = sending.filter(function (elt) { return elt !== target && target.contains(elt); })[0];
    if (!busy) return;
    e.detail.shouldSwap = false;
    busy.addEventListener("htmx:afterRequest", function () {
      if (document.body.contains(target)) htmx.ajax("GET", config.path, { source: source, target: target });
    }, { once: true });
  });

  // Errors: show the API error message (or a plain one) as a toast.
  document.body.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, message = "Something went wrong (" + xhr.status + ").";
    try {
      var data = JSON.parse(xhr.responseText);
      if (data.error && data.error.message) message = data.error.message;
    } catch (err) {
      if (xhr.status === 403) message = "You do not have permission to do this.";
      else if (xhr.status === 404) message = "This record no longer exists or is not visible to you.";
      else if (xhr.status === 409) message = xhr.responseText.slice(0, 300) || "Conflict.";
    }
    toast(message, "error");
  });
  // Forms marked data-keep-input (the timeline's quick log) keep what the user typed when a
  // refresh that is not their own submission redraws them: a live update of the record reloads
  // the timeline around the form, and a half-written entry must not be lost. The values are
  // kept per form (its data-keep-input key) and put back into the new copy in the task that
  // swaps it in (htmx:afterSwap, before the settle), so no keystroke lands between the two,
  // with the focus and caret of the field typed in when the swap took them. The
  // form's own submission drops what it sent (the answer shows what was saved, or the server's
  // re-rendered input with its errors), but not what was typed after it was sent: the saved
  // entry can show (a live redraw) before the submission's own answer arrives, and the user may
  // already be typing the next one.
  var typed = {};
  var edits = 0;
  function keepInput(e) {
    var form = e.target.closest ? e.target.closest("form[data-keep-input]") : null;
    if (!form) return;
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "submit") return;
      values.push([el.name, el.type === "checkbox" || el.type === "radio" ? el.checked : el.value]);
    });
    var details = form.querySelector("details");
    var before = typed[form.dataset.keepInput] || {};
    var focus = before.focus || null, caret = before.caret || null;
    if (e.type === "input") {  // typing (a change also fires as the field loses the focus)
      focus = e.target.name || null;
      try { caret = [e.target.selectionStart, e.target.selectionEnd]; } catch (err) { caret = null; }
    }
    edits += 1;
    typed[form.dataset.keepInput] = {
      values: values, open: !!(details && details.open), edit: edits, focus: focus, caret: caret
    };
  }
  document.body.addEventListener("input", keepInput);
  document.body.addEventListener("change", keepInput);
  function leftInput(e) {  // the user went elsewhere: a redraw leaves the focus where it is
    if (e.target.closest && e.target.closest("form[data-keep-input]")) return;
    Object.keys(typed).forEach(function (key) { typed[key].focus = null; });
  }
  document.addEventListener("pointerdown", leftInput, true);
  document.addEventListener("focusin", leftInput, true);
  function ownForm(e) {
    var elt = (e.detail.requestConfig && e.detail.requestConfig.elt) || e.detail.elt;
    return elt && elt.closest ? elt.closest("form[data-keep-input]") : null;
  }
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    var form = ownForm(e);
    if (form) e.detail.requestConfig.keptEdit = edits;  // what was typed up to the sending
  });
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var form = ownForm(e);
    if (!form) return;
    var kept = typed[form.dataset.keepInput];
    var sent = e.detail.requestConfig ? e.detail.requestConfig.keptEdit : undefined;
    if (kept && (sent === undefined || kept.edit <= sent)) delete typed[form.dataset.keepInput];
  });
  function restoreInput(content) {
    if (!content || !content.querySelectorAll) return;
    var forms = content.matches && content.matches("form[data-keep-input]") ? [content] : [];
    forms = forms.concat(Array.prototype.slice.call(content.querySelectorAll("form[data-keep-input]")));
    forms.forEach(function (form) {
      var kept = typed[form.dataset.keepInput];
      if (!kept) return;
      kept.values.forEach(function (pair) {
        var el = form.elements[pair[0]];
        if (!el || (window.RadioNodeList && el instanceof RadioNodeList)) return;  // a radio group: as rendered
        if (el.type === "checkbox") el.checked = pair[1];
        else if (el.value !== pair[1]) el.value = pair[1];
      });
      var details = form.querySelector("details");
      if (details && kept.open) details.open = true;
      // The field typed in went with the old copy (the focus fell to the page): typing goes on
      // in the new one.
      var active = document.activeElement;
      var field = kept.focus ? form.elements[kept.focus] : null;
      if (field && field.focus && (!active || active === document.body) && !(window.RadioNodeList && field instanceof RadioNodeList)) {
        field.focus();
        try { if (kept.caret) field.setSelectionRange(kept.caret[0], kept.caret[1]); } catch (err) { /* no caret */ }
      }
    });
  }
  document.body.addEventListener("htmx:afterSwap", function (e) { restoreInput(e.target); });
  document.body.addEventListener("htmx:oobAfterSwap", function (e) { restoreInput(e.target); });
  htmx.onLoad(restoreInput);

  document.body.addEventListener("htmx:sendError", function () {
    toast("Network error: the server could not be reached. Your input is kept; try again.", "error");
  });
})();
