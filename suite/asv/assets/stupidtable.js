/*
 * pairbench's stand-in for the jQuery "stupidtable" plugin, which asv 0.6's summary list and
 * regressions pages load from a CDN to sort their tables. No PyPI package ships it, so this file
 * (written for pairbench, not a copy) implements what asv calls:
 *   $(table).stupidtable(sortFns)   - click a <th data-sort="TYPE"> to sort by that column;
 *                                     TYPE is int, float, string, string-ins or a key of sortFns
 *   $(th).stupidsort(direction)     - sort by that column now ("asc" or "desc"; toggles if omitted)
 *   events on the table: beforetablesort / aftertablesort with {column, direction}
 * A cell sorts by its data-sort-value attribute when it has one, else by its text. Sorting is stable.
 */
(function ($) {
  "use strict";
  var builtin = {
    "int": function (a, b) { return parseInt(a, 10) - parseInt(b, 10); },
    "float": function (a, b) { return parseFloat(a) - parseFloat(b); },
    "string": function (a, b) { return String(a).localeCompare(String(b)); },
    "string-ins": function (a, b) {
      return String(a).toLocaleLowerCase().localeCompare(String(b).toLocaleLowerCase());
    }
  };

  function value($cell) {
    var v = $cell.attr("data-sort-value");
    return v === undefined ? $cell.text() : v;
  }

  $.fn.stupidtable = function (sortFns) {
    return this.each(function () {
      var $table = $(this);
      $table.data("pairbench-sort-fns", $.extend({}, builtin, sortFns || {}));
      $table.on("click.stupidtable", "thead th", function () { $(this).stupidsort(); });
    });
  };

  $.fn.stupidsort = function (direction) {
    var $th = this.first();
    var $table = $th.closest("table");
    var fns = $table.data("pairbench-sort-fns") || builtin;
    var compare = fns[$th.attr("data-sort")];
    if (!compare) {
      return this;
    }
    var column = $th.parent().children().index($th);
    var dir = direction || ($th.data("pairbench-sort-dir") === "asc" ? "desc" : "asc");
    $table.trigger("beforetablesort", {column: column, direction: dir});
    $table.children("tbody").each(function () {
      var $tbody = $(this);
      var keyed = $tbody.children("tr").get().map(function (tr, i) {
        return {tr: tr, i: i, v: value($(tr).children().eq(column))};
      });
      keyed.sort(function (x, y) {
        var r = compare(x.v, y.v) || 0;
        return r !== 0 ? (dir === "asc" ? r : -r) : x.i - y.i;
      });
      $tbody.append(keyed.map(function (k) { return k.tr; }));
    });
    $table.find("thead th").removeData("pairbench-sort-dir");
    $th.data("pairbench-sort-dir", dir);
    $table.trigger("aftertablesort", {column: column, direction: dir, $th: $th});
    return this;
  };
}(jQuery));
