// The dashboard's charts (vendored Chart.js), its "Show as table" toggles, the custom range
// inputs and the live refresh. Every chart is drawn from the JSON the page embeds
// (#dashboard-data), the same rows as the tables under the charts.
(function () {
  "use strict";
  var charts = [];
  var PALETTE = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#0dcaf0", "#ffc107",
    "#198754", "#6c757d", "#dc3545"];
  var TEMPERATURE = { cold: "#0dcaf0", warm: "#fd7e14", hot: "#dc3545" };

  function themeColors() {
    var styles = getComputedStyle(document.documentElement);
    return {
      text: styles.getPropertyValue("--bs-body-color").trim() || "#212529",
      grid: styles.getPropertyValue("--bs-border-color").trim() || "#dee2e6",
    };
  }

  function go(urls) {
    return function (event, elements) {
      if (elements.length && urls[elements[0].index]) window.location.href = urls[elements[0].index];
    };
  }

  function base(colors, extra) {
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      plugins: { legend: { labels: { color: colors.text, boxWidth: 12 } } },
      scales: {
        x: { ticks: { color: colors.text }, grid: { color: colors.grid } },
        y: { ticks: { color: colors.text }, grid: { color: colors.grid }, beginAtZero: true },
      },
    };
    return Object.assign(options, extra || {});
  }

  function make(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return;
    charts.push(new window.Chart(canvas, config));
  }

  function draw() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    var holder = document.getElementById("dashboard-data");
    if (!holder) return;
    var data = JSON.parse(holder.textContent);
    var colors = themeColors();
    var stacked = base(colors, {
      onClick: function (event, elements) {
        if (!elements.length) return;
        var ds = data.over_time.datasets[elements[0].datasetIndex];
        if (ds && ds.urls && ds.urls[elements[0].index]) window.location.href = ds.urls[elements[0].index];
      },
    });
    stacked.scales.x.stacked = true;
    stacked.scales.y.stacked = true;
    make("chart-over-time", {
      type: "bar",
      data: {
        labels: data.over_time.labels,
        datasets: data.over_time.datasets.map(function (ds, i) {
          return { label: ds.label, data: ds.data, backgroundColor: PALETTE[i % PALETTE.length] };
        }),
      },
      options: stacked,
    });
    make("chart-temperature", {
      type: "doughnut",
      data: {
        labels: data.temperature.map(function (t) { return t.label; }),
        datasets: [{
          data: data.temperature.map(function (t) { return t.count; }),
          backgroundColor: data.temperature.map(function (t) { return TEMPERATURE[t.key]; }),
        }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: { duration: 250 },
        plugins: { legend: { position: "bottom", labels: { color: colors.text, boxWidth: 12 } } },
        onClick: go(data.temperature.map(function (t) { return t.url; })),
      },
    });
    var funnel = base(colors, { indexAxis: "y", onClick: go(data.funnel.map(function (f) { return f.url; })) });
    funnel.plugins.legend.display = false;
    make("chart-funnel", {
      type: "bar",
      data: {
        labels: data.funnel.map(function (f) { return f.label; }),
        datasets: [{ label: "Leads", data: data.funnel.map(function (f) { return f.count; }), backgroundColor: "#0d6efd" }],
      },
      options: funnel,
    });
    make("chart-sources", {
      type: "bar",
      data: {
        labels: data.sources.map(function (s) { return s.label; }),
        datasets: [
          { label: "Leads", data: data.sources.map(function (s) { return s.count; }), backgroundColor: "#0d6efd" },
          { label: "Converted", data: data.sources.map(function (s) { return s.converted; }), backgroundColor: "#20c997" },
        ],
      },
      options: base(colors, { onClick: go(data.sources.map(function (s) { return s.url; })) }),
    });
    make("chart-pipeline", {
      type: "bar",
      data: {
        labels: data.pipeline.map(function (p) { return p.label; }),
        datasets: [
          { label: "Value", data: data.pipeline.map(function (p) { return p.value; }), backgroundColor: "#6f42c1" },
          { label: "Weighted", data: data.pipeline.map(function (p) { return p.weighted; }), backgroundColor: "#d63384" },
        ],
      },
      options: base(colors, { onClick: go(data.pipeline.map(function (p) { return p.url; })) }),
    });
    var forecast = base(colors, { onClick: go(data.forecast.map(function (f) { return f.url; })) });
    forecast.plugins.legend.display = false;
    make("chart-forecast", {
      type: "bar",
      data: {
        labels: data.forecast.map(function (f) { return f.label; }),
        datasets: [{ label: "Weighted value", data: data.forecast.map(function (f) { return f.weighted; }), backgroundColor: "#198754" }],
      },
      options: forecast,
    });
    if (data.calibration && data.calibration.length) {
      var calibration = base(colors, {
        plugins: {
          legend: { labels: { color: colors.text, boxWidth: 12 } },
          tooltip: {
            callbacks: {
              afterBody: function (items) {
                var row = data.calibration[items[0].dataIndex];
                return row.count + " held-out lead" + (row.count === 1 ? "" : "s");
              },
            },
          },
        },
      });
      calibration.scales.y.max = 100;
      calibration.scales.y.ticks.callback = function (value) { return value + " %"; };
      make("chart-calibration", {
        type: "bar",
        data: {
          labels: data.calibration.map(function (c) { return [c.label, c.count + (c.count === 1 ? " lead" : " leads")]; }),
          datasets: [
            { label: "Predicted (mean)", data: data.calibration.map(function (c) { return c.predicted; }), backgroundColor: "#6f42c1" },
            { label: "Converted", data: data.calibration.map(function (c) { return c.observed; }), backgroundColor: "#20c997" },
          ],
        },
        options: calibration,
      });
    }
    document.getElementById("dashboard-body").setAttribute("data-drawn", String(Date.now()));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".dash-table-toggle");
    if (!button) return;
    var table = document.getElementById(button.getAttribute("aria-controls"));
    var open = button.getAttribute("aria-expanded") !== "true";
    table.classList.toggle("d-none", !open);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide table" : "Show as table";
  });

  // The custom range's inputs only for "Custom range"; choosing it waits for the dates. A
  // preset disables them, so the request (and the pushed URL) carries no stale dates.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "dash-period") return;
    var custom = event.target.value === "custom";
    document.querySelectorAll(".dash-custom").forEach(function (el) {
      el.classList.toggle("d-none", !custom);
      el.querySelectorAll("input").forEach(function (input) { input.disabled = !custom; });
    });
    if (custom) event.stopPropagation();
  }, true);

  function refresh() {
    var body = document.getElementById("dashboard-body");
    if (!body || !window.htmx) return;
    window.htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#dashboard-body", select: "#dashboard-body", swap: "outerHTML",
    });
  }

  // The socket says something changed (at most every few seconds): re-read the figures.
  document.body.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "dashboard-stale") {
      var status = document.getElementById("dash-live-status");
      if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
      refresh();
    }
  });

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && (event.detail.elt.id === "dashboard-body" || event.detail.elt.querySelector && event.detail.elt.querySelector("#dashboard-data"))) draw();
    else if (document.getElementById("dashboard-data") && !document.querySelector("#dashboard-body[data-drawn]")) draw();
  });

  new MutationObserver(draw).observe(document.documentElement, { attributes: true, attributeFilter: ["data-bs-theme"] });
  draw();
})();
