/* The workbench's charts (issue 16, item 4), drawn with the vendored Apache ECharts (static/vendor/echarts-*.min.js).
 *
 * A chart is an element <div class="chart" data-chart="ID"> whose data is the JSON in <script id="ID"
 * type="application/json"> ({{ data|json_script:"ID" }}): an object with a "kind" (scatter, heatmap, confusion,
 * calibration, bars) and the names to show, translated by the server; or, for data-chart-kind="loss", a job's
 * loss curve [[step, loss], ...] with the axis names in data-x-name / data-y-name. In a fragment that htmx
 * swaps in, the json_script sits inside <template data-chart-data="ID"> (htmx removes swapped-in scripts). Every chart has a table
 * beside it with the same numbers: without JavaScript (or without this library) the table is the chart.
 *
 * The Content-Security-Policy allows no inline script or style: the data comes through json_script, and
 * tooltips are drawn on the canvas (renderMode "richText"), never as HTML. After setOption the element gets
 * data-chart-ready, which tests wait for. Fragments swapped in by htmx (a running job's progress, polled every
 * two seconds) are drawn when they arrive, and the charts of the fragment they replace are disposed first.
 */
(function () {
  "use strict";

  // diverging, red below zero and blue above (ColorBrewer RdBu): −1 is as visible as 1
  var DIVERGING = ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"];
  var SEQUENTIAL = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];
  var TOOLTIP = { renderMode: "richText", confine: true };

  function num(value, digits) {
    if (value === null || value === undefined || !isFinite(value)) {
      return "—";
    }
    var text = String(Number(Number(value).toFixed(digits === undefined ? 3 : digits)));
    return text === "-0" ? "0" : text.replace("-", "−");
  }

  function dataSource(id) {
    var source = document.getElementById(id);
    if (source) {
      return source;
    }
    // a fragment htmx swaps in loses its <script> elements (allowScriptTags is off in base.html), so a polled
    // fragment hands its data inside <template data-chart-data="ID">, whose content htmx leaves alone
    var holders = document.querySelectorAll("template[data-chart-data]");
    for (var i = 0; i < holders.length; i += 1) {
      if (holders[i].getAttribute("data-chart-data") === id) {
        return holders[i].content.getElementById(id);
      }
    }
    return null;
  }

  function readData(el) {
    var source = dataSource(el.getAttribute("data-chart"));
    if (!source) {
      return null;
    }
    try {
      return JSON.parse(source.textContent);
    } catch (error) {
      return null;
    }
  }

  function interval(ci) {
    return ci ? " [" + num(ci[0]) + ", " + num(ci[1]) + "]" : "";
  }

  function scatter(data) {
    // models at the same point are listed together in its tooltip, and their labels stacked below each other
    var together = {};
    var rank = data.points.map(function (p) {
      var key = p.risk + "|" + p.quality;
      (together[key] = together[key] || []).push(p.name);
      return together[key].length - 1;
    });
    var series = data.points.map(function (p, i) {
      return {
        type: "scatter",
        name: p.name,
        symbolSize: 11,
        z: 3,
        data: [{ name: p.name, value: [p.risk, p.quality], point: p }],
        label: { show: true, position: "right", formatter: "{a}", backgroundColor: "rgba(255,255,255,0.85)", padding: [1, 3] },
        labelLine: { show: true, length2: 4, lineStyle: { color: "#8a96a3" } },
        // equal scores: each further label one line lower; a label that still overlaps another (close
        // scores) is hidden, its model named by the legend, the tooltip and the table
        labelLayout: function () {
          return { dy: rank[i] * 14, hideOverlap: true };
        },
        emphasis: { focus: "series" },
      };
    });
    series.push({
      type: "custom",
      name: data.interval,
      silent: true,
      itemStyle: { color: "#8a96a3" },
      z: 2,
      data: data.points.map(function (p) {
        return [p.risk, p.quality];
      }),
      encode: { x: 0, y: 1 },
      renderItem: function (params, api) {
        var p = data.points[params.dataIndex];
        var style = { stroke: "#8a96a3", lineWidth: 1.2 };
        var parts = [];
        function segment(from, to, cap) {
          var a = api.coord(from);
          var b = api.coord(to);
          parts.push({ type: "line", shape: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, style: style });
          [a, b].forEach(function (end) {
            var shape = cap === "x"
              ? { x1: end[0], y1: end[1] - 4, x2: end[0], y2: end[1] + 4 }
              : { x1: end[0] - 4, y1: end[1], x2: end[0] + 4, y2: end[1] };
            parts.push({ type: "line", shape: shape, style: style });
          });
        }
        if (p.riskCi && p.riskCi[0] !== null && p.riskCi[1] !== null) {
          segment([p.riskCi[0], p.quality], [p.riskCi[1], p.quality], "x");
        }
        if (p.qualityCi && p.qualityCi[0] !== null && p.qualityCi[1] !== null) {
          segment([p.risk, p.qualityCi[0]], [p.risk, p.qualityCi[1]], "y");
        }
        return { type: "group", children: parts };
      },
    });
    return {
      animation: false,
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 56, right: 120, top: 24, bottom: 72 },
      tooltip: Object.assign({ trigger: "item" }, TOOLTIP, {
        formatter: function (params) {
          var p = params.data && params.data.point;
          if (!p) {
            return "";
          }
          var names = together[p.risk + "|" + p.quality] || [p.name];
          return names.join(", ") + "\n" + data.xName + " " + num(p.risk) + interval(p.riskCi) +
            "\n" + data.yName + " " + num(p.quality) + interval(p.qualityCi);
        },
      }),
      xAxis: { type: "value", name: data.xName, nameLocation: "middle", nameGap: 28, min: 0, max: 1 },
      yAxis: { type: "value", name: data.yName, nameLocation: "middle", nameGap: 40, min: 0, max: 1 },
      series: series,
    };
  }

  function grid(data) {
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 16, bottom: 56, containLabel: true },
      xAxis: {
        type: "category",
        data: data.x,
        name: data.xName || "",
        nameLocation: "middle",
        nameGap: 26,
        splitArea: { show: true },
        axisLabel: { interval: 0, rotate: data.x.length > 6 ? 30 : 0 },
      },
      yAxis: {
        type: "category",
        data: data.y,
        name: data.yName || "",
        nameLocation: "middle",
        nameGap: 30,
        inverse: true,
        splitArea: { show: true },
      },
    };
  }

  function heatmap(data) {
    var option = grid(data);
    option.grid.bottom = 72;
    option.tooltip = Object.assign({}, TOOLTIP, {
      formatter: function (params) {
        var v = params.value;
        return data.y[v[1]] + " · " + data.x[v[0]] + "\n" + data.valueName + " " + num(v[2]);
      },
    });
    option.visualMap = {
      type: "continuous",
      min: data.min,
      max: data.max,
      orient: "horizontal",
      left: "center",
      bottom: 0,
      itemHeight: 160,
      text: [num(data.max), num(data.min)],
      inRange: { color: DIVERGING },
    };
    option.series = [{
      type: "heatmap",
      name: data.valueName,
      data: data.cells,
      label: { show: true, formatter: function (p) { return num(p.value[2], 2); } },
      itemStyle: { borderColor: "#ffffff", borderWidth: 1 },
    }];
    return option;
  }

  function confusion(data) {
    var option = grid(data);
    option.grid.bottom = 8;
    option.title = { text: data.title, left: "center", textStyle: { fontSize: 13 } };
    option.grid.top = 36;
    option.tooltip = Object.assign({}, TOOLTIP, {
      formatter: function (params) {
        var v = params.value;
        return data.yName + " " + data.y[v[1]] + " · " + data.xName + " " + data.x[v[0]] + ": " + v[2];
      },
    });
    option.visualMap = { show: false, min: 0, max: Math.max(data.max, 1), inRange: { color: SEQUENTIAL } };
    option.series = [{
      type: "heatmap",
      data: data.cells,
      label: { show: true },
      itemStyle: { borderColor: "#ffffff", borderWidth: 1 },
    }];
    return option;
  }

  function calibration(data) {
    var most = Math.max.apply(null, data.bins.map(function (b) { return b.n; }).concat([1]));
    return {
      animation: false,
      legend: { bottom: 0 },
      grid: { left: 56, right: 24, top: 16, bottom: 72 },
      tooltip: Object.assign({ trigger: "item" }, TOOLTIP, {
        formatter: function (params) {
          var b = params.data && params.data.bin;
          if (!b) {
            return params.seriesName;
          }
          return num(b.low, 1) + "–" + num(b.high, 1) + " (n = " + b.n + ")\n" +
            data.xName + " " + num(b.predicted) + "\n" + data.yName + " " + num(b.observed);
        },
      }),
      xAxis: { type: "value", name: data.xName, nameLocation: "middle", nameGap: 28, min: 0, max: 1 },
      yAxis: { type: "value", name: data.yName, nameLocation: "middle", nameGap: 40, min: 0, max: 1 },
      series: [
        {
          type: "line",
          name: data.idealName,
          data: [[0, 0], [1, 1]],
          symbol: "none",
          lineStyle: { type: "dashed", color: "#8a96a3" },
          itemStyle: { color: "#8a96a3" },
        },
        {
          type: "line",
          name: data.observedName,
          data: data.bins.map(function (b) {
            return { value: [b.predicted, b.observed], bin: b, symbolSize: 6 + 14 * Math.sqrt(b.n / most) };
          }),
        },
      ],
    };
  }

  function bars(data) {
    return {
      animation: false,
      legend: { bottom: 0 },
      grid: { left: 8, right: 16, top: 16, bottom: 48, containLabel: true },
      tooltip: Object.assign({ trigger: "item" }, TOOLTIP, {
        formatter: function (params) {
          var f = params.data && params.data.figure;
          var head = data.categories[params.dataIndex] + " · " + params.seriesName + "\n";
          if (f === null || f === undefined || f.value === null) {
            return head + (data.undefinedName || "—");
          }
          if (typeof f === "number") {
            return head + num(f);
          }
          return head + num(f.value) + " (" + f.items + " " + data.itemsName + ", " + f.ratings + " " +
            data.ratingsName + ")";
        },
      }),
      xAxis: {
        type: "category",
        data: data.categories.map(function (name, i) { return name + "\n" + data.counts[i]; }),
        axisLabel: { interval: 0 },
      },
      yAxis: { type: "value", min: data.min, max: data.max },
      series: data.series.map(function (s) {
        return {
          type: "bar",
          name: s.name,
          data: s.values.map(function (f) {
            // a figure with its counts ({value, items, ratings}) or a plain number
            var value = typeof f === "number" ? f : (f && f.value !== null ? f.value : null);
            return { value: value, figure: f };
          }),
          label: {
            show: true,
            position: "top",
            formatter: function (p) { return p.value === null || p.value === undefined ? "" : num(p.value, 2); },
          },
        };
      }),
    };
  }

  function loss(curve, el) {
    var points = (curve || []).filter(function (p) {
      return Array.isArray(p) && typeof p[1] === "number" && isFinite(p[1]);
    });
    return {
      animation: false,
      grid: { left: 64, right: 24, top: 16, bottom: 48 },
      tooltip: Object.assign({ trigger: "axis" }, TOOLTIP, {
        formatter: function (params) {
          var v = params[0] && params[0].value;
          return v ? el.getAttribute("data-x-name") + " " + v[0] + "\n" + el.getAttribute("data-y-name") + " " + num(v[1], 4) : "";
        },
      }),
      xAxis: {
        type: "value",
        name: el.getAttribute("data-x-name") || "",
        nameLocation: "middle",
        nameGap: 28,
        minInterval: 1,
        min: "dataMin",
        max: "dataMax",
      },
      yAxis: { type: "value", name: el.getAttribute("data-y-name") || "", nameLocation: "middle", nameGap: 48, scale: true },
      series: [{ type: "line", data: points, showSymbol: points.length < 40 }],
    };
  }

  var KINDS = { scatter: scatter, heatmap: heatmap, confusion: confusion, calibration: calibration, bars: bars };

  function height(el, kind, data) {
    // heat maps grow with their rows, so that a long leaderboard keeps readable cells
    if (kind === "heatmap") {
      el.style.height = Math.max(200, 96 + 32 * data.y.length) + "px";
    }
  }

  function draw(el) {
    if (typeof window.echarts === "undefined") {
      return;  // the library did not load: the table beside the chart holds the numbers
    }
    var data = readData(el);
    if (data === null) {
      return;
    }
    var kind = el.getAttribute("data-chart-kind") || data.kind;
    var build = kind === "loss" ? loss : KINDS[kind];
    if (!build) {
      return;
    }
    height(el, kind, data);
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(build(data, el), true);
    el.setAttribute("data-chart-ready", "");
  }

  function drawIn(root) {
    if (root.matches && root.matches("[data-chart]")) {
      draw(root);
    }
    if (root.querySelectorAll) {
      Array.prototype.forEach.call(root.querySelectorAll("[data-chart]"), draw);
    }
  }

  function disposeIn(root) {
    if (typeof window.echarts === "undefined" || !root.querySelectorAll) {
      return;
    }
    var els = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.matches && root.matches("[data-chart]")) {
      els.push(root);
    }
    els.forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) {
        chart.dispose();
      }
    });
  }

  function resizeAll() {
    if (typeof window.echarts === "undefined") {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart-ready]"), function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) {
        chart.resize();
      }
    });
  }

  function start() {
    drawIn(document);
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      disposeIn(event.detail.target);
    });
    document.body.addEventListener("htmx:load", function (event) {
      drawIn(event.detail.elt);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(resizeAll, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
