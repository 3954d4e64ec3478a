/*
 * pairbench's flot plugin for asv 0.6's bar charts (a benchmark parameter on the x axis), in place
 * of flot-orderBars, which asv loads from a CDN and no PyPI package ships. Written for pairbench,
 * not a copy. Series drawn as bars with a numeric "bars.order" are set side by side around their
 * x position, in that order, each shifted by its bar width, instead of being drawn on top of one
 * another.
 */
(function ($) {
  "use strict";
  function init(plot) {
    plot.hooks.processDatapoints.push(function (plot, series, datapoints) {
      var bars = series.bars;
      if (!bars || !bars.show || bars.order === null || bars.order === undefined) {
        return;
      }
      var orders = plot.getData()
        .filter(function (s) { return s.bars && s.bars.show && s.bars.order !== null && s.bars.order !== undefined; })
        .map(function (s) { return s.bars.order; })
        .sort(function (x, y) { return x - y; });
      var rank = orders.indexOf(bars.order);
      var shift = (rank - (orders.length - 1) / 2) * bars.barWidth;
      var step = datapoints.pointsize, points = datapoints.points;
      for (var i = 0; i < points.length; i += step) {
        if (points[i] !== null) {
          points[i] += shift;
        }
      }
    });
  }
  $.plot.plugins.push({init: init, options: {series: {bars: {order: null}}}, name: "orderBars", version: "pairbench"});
}(jQuery));
