// Sortable tables on the 报告机构 page: click a header to sort by that column, click again to reverse.
// Cells carry their raw value in data-value (numbers sort as numbers, empty values last).
(function () {
  "use strict";
  function value(cell) {
    var raw = (cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent).trim();
    if (raw === "") return null;
    return /^-?\d+(\.\d+)?(e-?\d+)?$/.test(raw) ? parseFloat(raw) : raw;
  }
  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var descending = header.getAttribute("aria-sort") !== "descending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index]), y = value(b.cells[index]);
      if (x === null) return 1;
      if (y === null) return -1;
      var order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y), "zh");
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.classList.add("sortable-header");
      header.addEventListener("click", function () { sortBy(table, index, header); });
    });
  });
})();
