// Draws the insights' charts (Chart.js, vendored) from the figures the page carries as JSON.
// Without JavaScript the tables beside each chart hold the same numbers; with it, the charts
// show and the tables fold into their "The numbers" disclosure.
(function () {
  "use strict";

  // Colour-blind-safe (Okabe and Ito), one colour per series key, the same on every chart.
  const COLOURS = {
    done: "#009E73",
    in_progress: "#56B4E9",
    waiting: "#E69F00",
    rejected: "#CC79A7",
    cancelled: "#7F7F7F",
    failed: "#D55E00",
    draft: "#C8CCD0",
    p50: "#0072B2",
    p90: "#E69F00",
    creating: "#56B4E9",
    active: "#009E73",
    pending: "#E69F00",
    deleting: "#CC79A7",
    deleted: "#7F7F7F",
  };

  function draw(canvas, spec) {
    const line = canvas.dataset.type === "line";
    const stacked = canvas.dataset.stacked === "true";
    const horizontal = canvas.dataset.axis === "y";
    const valueAxis = horizontal ? "x" : "y";
    const scales = {
      x: { stacked: stacked },
      y: { stacked: stacked },
    };
    scales[valueAxis].beginAtZero = true;
    if (spec.unit) {
      scales[valueAxis].title = { display: true, text: spec.unit };
    } else {
      scales[valueAxis].ticks = { precision: 0 };
    }
    return new window.Chart(canvas, {
      type: canvas.dataset.type,
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (series) {
          const colour = COLOURS[series.key] || "#0072B2";
          return {
            label: series.label,
            data: series.data,
            backgroundColor: colour,
            borderColor: colour,
            spanGaps: line,
            pointRadius: line ? 3 : undefined,
          };
        }),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        scales: scales,
        plugins: {
          legend: { display: spec.series.length > 1, position: "bottom" },
        },
      },
    });
  }

  function start() {
    const source = document.getElementById("insights-data");
    if (!source || !window.Chart) {
      return;
    }
    const specs = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const spec = specs[canvas.dataset.chart];
      if (!spec) {
        return;
      }
      const box = canvas.closest(".chart");
      box.hidden = false;
      draw(canvas, spec);
      const numbers = box.parentElement.querySelector("details.numbers");
      if (numbers) {
        numbers.open = false;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
