// Dashboard charts (Chart.js). Data comes from the page's json_script block: no inline script (strict CSP).
(function () {
  "use strict";
  const palette = ["#3b5bdb", "#2b8a3e", "#b35c00", "#c92a2a", "#1971c2", "#862e9c", "#5c940d", "#e67700"];

  function figures() {
    const node = document.getElementById("audit-figures");
    return node ? JSON.parse(node.textContent) : null;
  }

  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return null;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    return new window.Chart(canvas, config);
  }

  function draw() {
    const f = figures();
    if (!f || !window.Chart) return;
    chart("chart-runs", { type: "bar", data: { labels: f.days,
      datasets: [{ label: "runs", data: f.runs, backgroundColor: palette[0] }] },
      options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });

    const costDays = Array.from(new Set(Object.values(f.cost_by_model).flatMap((byDay) => Object.keys(byDay)))).sort();
    chart("chart-cost", { type: "bar", data: { labels: costDays,
      datasets: Object.entries(f.cost_by_model).map(([model, byDay], i) => ({
        label: model, data: costDays.map((d) => byDay[d] || 0), backgroundColor: palette[i % palette.length] })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });

    const kinds = Object.keys(f.p95_ms_by_kind);
    chart("chart-latency", { type: "bar", data: { labels: kinds,
      datasets: [{ label: "p95 ms", data: kinds.map((k) => f.p95_ms_by_kind[k]), backgroundColor: palette[2] }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } } });

    chart("chart-errors", { type: "line", data: { labels: f.days,
      datasets: [{ label: "error rate", data: f.error_rate.map((r) => r * 100), borderColor: palette[3],
        backgroundColor: "rgba(201,42,42,.12)", fill: true, tension: 0.2 }] },
      options: { plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, suggestedMax: 10, ticks: { callback: (v) => v + "%" } } } } });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
