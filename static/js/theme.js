// Applied before first paint so dark mode never flashes light.
(function () {
  var stored = localStorage.getItem("pipecrm-theme");
  var theme = stored || (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  document.documentElement.setAttribute("data-bs-theme", theme);
})();
