// Row selection for table bulk actions (crm/bulk.py on the server).
//
// Markup contract, inside one [data-bulk-scope]:
//   [data-bulk-item]        a row checkbox (name="ids", usually form="<bulk form id>")
//   [data-bulk-select-all]  checks / unchecks every row of the scope
//   [data-bulk-count]       shows how many rows are checked
//   [data-bulk-action]      buttons enabled only while at least one row is checked
// The scope has the class "has-selection" while any row is checked (the bar shows then).
// After an htmx swap (rows refreshed, next page) the state is recomputed.
(function () {
  "use strict";

  function update(scope) {
    var items = scope.querySelectorAll("[data-bulk-item]");
    var checked = scope.querySelectorAll("[data-bulk-item]:checked").length;
    scope.classList.toggle("has-selection", checked > 0);
    scope.querySelectorAll("[data-bulk-count]").forEach(function (el) { el.textContent = String(checked); });
    scope.querySelectorAll("[data-bulk-action]").forEach(function (el) { el.disabled = checked === 0; });
    scope.querySelectorAll("[data-bulk-select-all]").forEach(function (el) {
      el.checked = items.length > 0 && checked === items.length;
      el.indeterminate = checked > 0 && checked < items.length;
    });
  }

  document.addEventListener("change", function (e) {
    var target = e.target;
    var scope = target.closest("[data-bulk-scope]");
    if (!scope) return;
    if (target.matches("[data-bulk-select-all]")) {
      scope.querySelectorAll("[data-bulk-item]").forEach(function (el) { el.checked = target.checked; });
    }
    if (target.matches("[data-bulk-select-all], [data-bulk-item]")) update(scope);
  });

  function updateAll() { document.querySelectorAll("[data-bulk-scope]").forEach(update); }
  if (window.htmx) window.htmx.onLoad(updateAll);
  else document.addEventListener("DOMContentLoaded", updateAll);
})();
