// Custom field definition form: suggest the name from the label, show options only for
// dropdown and multi-select. Delegated, so it works for forms swapped in by HTMX.
(function () {
  "use strict";

  var CHOICE_TYPES = ["dropdown", "multi_select"];

  function slugify(text) {
    var slug = text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 50).replace(/_+$/, "");
    if (slug && !/^[a-z]/.test(slug)) slug = "f_" + slug;
    return slug;
  }

  function syncOptions(form) {
    var type = form.querySelector("[data-cf-type]");
    var options = form.querySelector("[data-cf-options]");
    if (!type || !options) return;
    options.hidden = CHOICE_TYPES.indexOf(type.value) === -1;
  }

  document.addEventListener("input", function (e) {
    var form = e.target.closest("[data-cf-form]");
    if (!form) return;
    var name = form.querySelector("[data-cf-name]");
    if (!name) return;
    if (e.target === name) {
      name.dataset.touched = name.value ? "1" : "";
    } else if (e.target.hasAttribute("data-cf-label") && !name.dataset.touched) {
      name.value = slugify(e.target.value);
    }
  });

  document.addEventListener("change", function (e) {
    if (!e.target.hasAttribute("data-cf-type")) return;
    var form = e.target.closest("[data-cf-form]");
    if (form) syncOptions(form);
  });

  function init(root) {
    root.querySelectorAll("[data-cf-form]").forEach(function (form) {
      var name = form.querySelector("[data-cf-name]");
      if (name && name.value) name.dataset.touched = "1";
      syncOptions(form);
    });
  }
  document.body.addEventListener("htmx:afterSwap", function (e) { init(e.detail.target); });
  init(document);
})();
