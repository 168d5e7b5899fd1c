// Record tables: links that follow the current filters (saved views, CSV export).
(function () {
  "use strict";

  function syncQueryLinks() {
    var query = window.location.search.replace(/^\?/, "");
    var saveQuery = document.getElementById("save-view-query");
    if (saveQuery) saveQuery.value = query;
    var exportLink = document.getElementById("export-link");
    if (exportLink) exportLink.href = exportLink.dataset.base + (query ? "?" + query : "");
  }

  document.body.addEventListener("htmx:pushedIntoHistory", syncQueryLinks);
  document.body.addEventListener("htmx:afterSettle", syncQueryLinks);
  window.addEventListener("popstate", syncQueryLinks);
  syncQueryLinks();
})();
