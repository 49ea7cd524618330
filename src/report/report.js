"use strict";
// Sorting, filtering and search for the deployments table; no request of any kind.
// The page's address carries the view: #q=text, #account=ID, #ou=PATH, #sort=column:asc|desc.
(function () {
  var table = document.getElementById("deployments-table");
  if (!table) { document.documentElement.setAttribute("data-ready", "1"); return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var search = document.getElementById("search");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-column]"));
  var shown = document.getElementById("shown");

  function cellValue(row, index) {
    var cell = row.cells[index];
    var sort = cell.getAttribute("data-sort");
    return sort !== null ? sort : cell.textContent;
  }

  function sortBy(index, direction) {
    var numeric = heads[index].classList.contains("num");
    var sign = direction === "descending" ? -1 : 1;
    var keyed = rows.map(function (row, position) {
      var value = cellValue(row, index);
      if (numeric) { value = value === "" ? NaN : Number(value); }
      return { row: row, value: value, position: position };
    });
    keyed.sort(function (a, b) {
      var x = a.value, y = b.value, c;
      if (numeric) {
        var xn = isNaN(x), yn = isNaN(y);
        c = xn && yn ? 0 : xn ? 1 : yn ? -1 : (x - y) * sign;
      } else {
        c = x === y ? 0 : (x < y ? -1 : 1) * sign;
      }
      return c !== 0 ? c : a.position - b.position;
    });
    heads.forEach(function (h, i) {
      if (i === index) { h.setAttribute("aria-sort", direction); } else { h.removeAttribute("aria-sort"); }
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (k) { fragment.appendChild(k.row); });
    body.appendChild(fragment);
    rows = keyed.map(function (k) { return k.row; });
  }

  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-text");
      var visible = words.every(function (w) { return text.indexOf(w) !== -1; });
      selects.forEach(function (s) {
        if (s.value !== "") {
          visible = visible && cellValue(row, Number(s.getAttribute("data-column"))) === s.value;
        }
      });
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length;
  }

  function fromHash() {
    var hash = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    hash.split("&").forEach(function (part) {
      var at = part.indexOf("=");
      if (at < 0) { return; }
      var key = part.slice(0, at), value = part.slice(at + 1);
      if (key === "q" || key === "account" || key === "ou") { search.value = value; }
      if (key === "sort") {
        var pieces = value.split(":");
        heads.forEach(function (h, i) {
          if (h.getAttribute("data-name") === pieces[0]) {
            sortBy(i, pieces[1] === "desc" ? "descending" : "ascending");
          }
        });
      }
    });
    filter();
  }

  heads.forEach(function (head, index) {
    var button = head.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      sortBy(index, head.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
    });
  });
  search.addEventListener("input", filter);
  selects.forEach(function (s) { s.addEventListener("change", filter); });
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.documentElement.setAttribute("data-ready", "1");
  // Milliseconds from navigation start until the table is interactive (for bench/report.sh).
  document.documentElement.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
