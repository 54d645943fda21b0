// Calls over time, drawn with uPlot from the JSON the server put in the page.
(() => {
  const box = document.getElementById("calls-chart");
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const series = [
    {},
    { label: "Calls", stroke: "#1f5fbf", width: 2, fill: "rgba(31,95,191,0.08)" },
    { label: "Answered", stroke: "#067647", width: 2 },
    { label: "Sessions", stroke: "#9aa4b5", width: 1, scale: "sessions" },
  ];
  const axes = [{}, { label: "calls" }, { side: 1, scale: "sessions", label: "sessions", grid: { show: false } }];
  const size = () => ({ width: box.clientWidth, height: box.clientWidth < 500 ? 220 : 280 });
  const chart = new uPlot(
    { ...size(), series, axes, scales: { x: { time: true } } },
    [data.x, data.calls, data.answered, data.sessions],
    box,
  );
  // Phones rotate and windows resize: follow the box's width.
  new ResizeObserver(() => chart.setSize(size())).observe(box);
})();
