// The 统计看板 charts: Chart.js draws the figures the server put in #dashboard-data (the same as the tables).
(function () {
  "use strict";
  var shown = JSON.parse(document.getElementById("dashboard-data").textContent);
  var colours = ["#1f5fa8", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  function draw(key, type, rows, label, horizontal) {
    var canvas = document.getElementById("chart-" + key);
    if (!canvas || !rows.length) return;
    new window.Chart(canvas, {
      type: type,
      data: {
        labels: rows.map(function (row) { return row[0]; }),
        datasets: [{
          label: label,
          data: rows.map(function (row) { return row[1]; }),
          backgroundColor: type === "line" ? colours[0] : rows.map(function (_row, i) { return colours[i % colours.length]; }),
          borderColor: colours[0],
          fill: false
        }]
      },
      options: {
        animation: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: type === "doughnut" } },
        // counts are whole numbers; every category is labelled (a horizontal chart lists them on y)
        scales: type === "doughnut" ? {} : horizontal
          ? { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { ticks: { autoSkip: false } } }
          : { x: { ticks: { autoSkip: type === "line" } }, y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }
  draw("status", "bar", shown.status, "线索（条）", false);
  draw("sector", "bar", shown.sector, "线索（条）", true);
  draw("age", "doughnut", shown.age, "线索（条）", false);
  draw("weeks", "line", shown.weeks, "新增线索（条）", false);
  draw("provinces", "bar", shown.provinces, "参与人（人）", true);
  draw("region", "bar", shown.region, "线索（条）", true);
  document.body.dataset.chartsReady = "1";
})();
