/* czbench pages: sortable headers, the team filter and polling. No network access except
   re-reading this page's own URL (same origin) when the page asks to be polled. */
(function () {
  "use strict";
  var state = { table: null, key: null, dir: null };

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-value");
    if (raw === null) { return cell.textContent.trim().toLowerCase(); }
    if (raw === "") { return null; }
    var num = Number(raw);
    return isNaN(num) ? raw.toLowerCase() : num;
  }

  function sortTable(table, index, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x === y) { return 0; }
      if (x === null) { return 1; }   /* missing values last, whatever the direction */
      if (y === null) { return -1; }
      var order = x < y ? -1 : 1;
      return dir === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) {
      if (i === index) { heads[i].setAttribute("aria-sort", dir); }
      else if (heads[i].hasAttribute("aria-sort")) { heads[i].setAttribute("aria-sort", "none"); }
    }
  }

  function applyFilter() {
    var select = document.getElementById("team-filter");
    var table = document.querySelector("table[data-sortable]");
    if (!select || !table) { return; }
    var team = select.value, shown = 0, total = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var keep = !team || row.getAttribute("data-kind") === "reference" ||
                 row.getAttribute("data-team") === team;
      row.hidden = !keep;
      total += 1; shown += keep ? 1 : 0;
    });
    var status = document.getElementById("filter-status");
    if (status) { status.textContent = shown + " of " + total + " rows shown"; }
  }

  function bind() {
    document.querySelectorAll("table[data-sortable] thead button[data-col]").forEach(
      function (button) {
        button.addEventListener("click", function () {
          var table = button.closest("table");
          var index = Number(button.getAttribute("data-col"));
          var th = button.closest("th");
          var current = th.getAttribute("aria-sort");
          var first = button.getAttribute("data-first") || "ascending";
          var dir = current === first ? (first === "ascending" ? "descending" : "ascending")
                                      : first;
          state = { key: index, dir: dir };
          sortTable(table, index, dir);
          applyFilter();
        });
      });
    var select = document.getElementById("team-filter");
    if (select) { select.addEventListener("change", applyFilter); }
  }

  var served = {};

  function poll(seconds) {
    if (!(seconds > 0) || !/^https?:$/.test(window.location.protocol)) { return; }
    document.querySelectorAll("[data-live][id]").forEach(function (node) {
      served[node.id] = node.innerHTML;
    });
    window.setInterval(function () {
      fetch(window.location.href, { cache: "no-store", credentials: "same-origin",
                                    headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) {
          if (!text) { return; }
          var fresh = new DOMParser().parseFromString(text, "text/html");
          var select = document.getElementById("team-filter");
          var team = select ? select.value : "";
          var changed = false;
          fresh.querySelectorAll("[data-live][id]").forEach(function (node) {
            var old = document.getElementById(node.id);
            /* compared with what the server sent last, not with the sorted, filtered DOM:
               an unchanged part is left alone (and keeps the keyboard focus) */
            if (old && served[node.id] !== node.innerHTML) {
              old.innerHTML = node.innerHTML;
              served[node.id] = node.innerHTML;
              changed = changed || old.tagName === "TBODY" || old.tagName === "SELECT";
            }
          });
          if (!changed) { return; }
          select = document.getElementById("team-filter");
          if (select && team) { select.value = team; }
          var table = document.querySelector("table[data-sortable]");
          if (table && state.key !== null && state.key !== undefined) {
            sortTable(table, state.key, state.dir);
          }
          applyFilter();
        })
        .catch(function () { /* the server is away: try again at the next tick */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    poll(Number(document.body.getAttribute("data-poll") || "0"));  /* records the parts first */
    bind();
    applyFilter();
  });
})();
