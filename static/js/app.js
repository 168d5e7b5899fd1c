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
  var modalEl = document.getElementById("modal");
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "modal-dialog" && e.detail.xhr.status !== 204) {
      bootstrap.Modal.getOrCreateInstance(modalEl).show();
      var first = e.detail.target.querySelector("[autofocus]");
      if (first) setTimeout(function () { first.focus(); }, 150);
    }
  });
  if (modalEl) {
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
  document.body.addEventListener("htmx:sendError", function () {
    toast("Network error: the server could not be reached. Your input is kept; try again.", "error");
  });
})();
