// PipeCRM web-to-lead snippet helper (optional): fills each capture form's attribution inputs
// (utm_source … utm_term from the page address, referrer_url from document.referrer,
// landing_page from the page address) and sends the form as a browser navigation as usual.
(function () {
  "use strict";
  var MAX_URL = 1000;
  function fill(form) {
    var params = new URLSearchParams(window.location.search);
    ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"].forEach(function (name) {
      var input = form.querySelector('input[name="' + name + '"]');
      var value = params.get(name);
      if (input && value && !input.value) input.value = value.slice(0, 200);
    });
    var pairs = { referrer_url: document.referrer, landing_page: window.location.href };
    Object.keys(pairs).forEach(function (name) {
      var input = form.querySelector('input[name="' + name + '"]');
      var value = pairs[name] || "";
      if (input && !input.value && value && value.length <= MAX_URL) input.value = value;
    });
  }
  function init() {
    document.querySelectorAll("form[data-pipecrm-capture]").forEach(fill);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
