// Record tables and boards (templates/records/_filters.html): a form sends every input, so an
// untouched filter would put "source=&owner=…" in the URL htmx pushes. Send only the inputs that
// hold a value, once each; the server ignores empty ones too (crm/records/tables.py).
(function () {
  "use strict";
  document.body.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (e.detail.verb !== "get" || !elt.closest || !elt.closest("[data-record-filters]")) return;
    var data = e.detail.formData;
    var kept = [];
    var seen = {};
    data.forEach(function (value, key) {
      var pair = key + "=" + value;
      if (typeof value === "string" && value.trim() !== "" && !seen[pair]) {
        seen[pair] = true;
        kept.push([key, value]);
      }
    });
    // The default columns need no parameter: the URL names columns only when they were chosen.
    var form = elt.closest("form[data-default-columns]") || document.querySelector("form[data-default-columns]");
    if (form) {
      var chosen = kept.filter(function (p) { return p[0] === "columns"; }).map(function (p) { return p[1]; });
      if (chosen.join(",") === form.getAttribute("data-default-columns")) {
        kept = kept.filter(function (p) { return p[0] !== "columns"; });
      }
    }
    Array.from(new Set(Array.from(data.keys()))).forEach(function (key) { data.delete(key); });
    kept.forEach(function (pair) { data.append(pair[0], pair[1]); });
  });
})();
