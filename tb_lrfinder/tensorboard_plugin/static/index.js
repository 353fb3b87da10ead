// LR Finder dashboard: loss against learning rate (log axis) for every
// range-test run, drawn as plain SVG. TensorBoard loads this ES module in an
// iframe and calls render(); the data comes from ./runs (the plugin's backend,
// which analyses each run with tb_lrfinder's own pipeline).

const PALETTE = ["#ff7043", "#0077bb", "#009988", "#ee3377", "#33bbee", "#cc3311", "#aa3377", "#777777"];
const MARKERS = {safe: "circle", steepest: "triangle", min_loss_div10: "square", valley: "diamond"};
const LABELS = {safe: "safe", steepest: "steepest", min_loss_div10: "min loss / 10", valley: "valley"};
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 860, HEIGHT = 460, MARGIN = {left: 64, right: 16, top: 16, bottom: 44};
const REFRESH_MS = 5000;

const hidden = new Set();
let latest = null;

export async function render() {
  document.body.innerHTML = `
    <style>
      body { font-family: Roboto, sans-serif; font-size: 13px; margin: 16px; color: #212121; }
      h2 { font-size: 16px; font-weight: 500; margin: 0 0 8px; }
      #chart { position: relative; }
      svg { background: #fff; border: 1px solid #e0e0e0; }
      .axis line, .axis path { stroke: #9e9e9e; }
      .grid line { stroke: #eeeeee; }
      text { fill: #424242; font-size: 11px; }
      #tooltip { position: absolute; pointer-events: none; background: rgba(33,33,33,.9); color: #fff;
                 padding: 4px 6px; border-radius: 3px; font-size: 11px; display: none; white-space: pre; }
      table { border-collapse: collapse; margin-top: 12px; }
      th, td { border-bottom: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; vertical-align: top; }
      th { font-weight: 500; background: #fafafa; }
      .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
      .muted { color: #757575; }
      #empty { color: #757575; margin: 24px 0; }
    </style>
    <h2>Loss against learning rate</h2>
    <div class="muted">Raw loss faint, smoothed solid; markers: the rules' rates; band: the recommended range,
      dashed line: the recommended rate; dotted line: where the sweep stopped. Updates every ${REFRESH_MS / 1000} s.</div>
    <div id="legend" class="muted"></div>
    <div id="empty" style="display:none"></div>
    <div id="chart"><svg id="plot" width="${WIDTH}" height="${HEIGHT}"></svg><div id="tooltip"></div></div>
    <table id="runs"><thead><tr><th>show</th><th>run</th><th>recommended</th><th>range</th><th>confident</th>
      <th>verified</th><th>stop</th><th>notes</th></tr></thead><tbody></tbody></table>
    <div id="skipped" class="muted"></div>`;
  drawLegend();
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

function drawLegend() {
  const legend = document.getElementById("legend");
  for (const [rule, shape] of Object.entries(MARKERS)) {
    const svg = el("svg", {width: 14, height: 14, style: "vertical-align: middle; margin: 0 2px 0 10px"});
    drawMarker(svg, shape, 7, 7, "#bdbdbd");
    legend.appendChild(svg);
    legend.appendChild(document.createTextNode(LABELS[rule] + (rule === "safe" ? " (recommended)" : "")));
  }
  legend.appendChild(document.createTextNode("; ticks on the axis: verification trials (tall: the verified rate)"));
}

async function refresh() {
  try {
    const response = await fetch("./runs");
    latest = await response.json();
  } catch (error) {
    document.getElementById("empty").style.display = "";
    document.getElementById("empty").textContent = `Could not load the runs: ${error}`;
    return;
  }
  draw();
}

function fmt(value) {
  return value === null || value === undefined ? "-" : Number(value).toPrecision(3);
}

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

// The y range (as analyze.py's plot): from the lowest smoothed loss before
// the stop to the starting level (the highest of the first tenth), with a
// margin; the explosion at the end of a sweep would flatten everything else.
function yDomain(runs) {
  let low = Infinity, high = -Infinity;
  for (const run of runs) {
    const {learning_rate: rates, smoothed_loss: smoothed} = run.points;
    const stop = run.analysis.stop.learning_rate;
    const finite = smoothed.filter((v, i) => v !== null && rates[i] <= stop);
    if (!finite.length) continue;
    low = Math.min(low, ...finite);
    high = Math.max(high, ...finite.slice(0, Math.max(1, Math.floor(finite.length / 10))));
  }
  if (!isFinite(low) || !isFinite(high)) return [0, 1];
  high = Math.max(high, low);
  const pad = high > low ? 0.15 * (high - low) : Math.max(Math.abs(high), 1) * 0.1;
  return [low - pad, high + 2 * pad];
}

function draw() {
  const runs = latest.runs;
  const empty = document.getElementById("empty");
  empty.style.display = runs.length ? "none" : "";
  empty.textContent = runs.length ? "" : "No range test found under the logdir yet (a run needs a learning-rate and a loss series).";
  drawTable(runs);
  drawPlot(runs.filter((run) => !hidden.has(run.run)), runs);
  const skipped = latest.skipped.map((s) => `${s.run}`).join(", ");
  document.getElementById("skipped").textContent = skipped ? `Runs without a range test: ${skipped}` : "";
}

function drawTable(runs) {
  const body = document.querySelector("#runs tbody");
  body.innerHTML = "";
  runs.forEach((run, index) => {
    const rec = run.analysis.recommended;
    const stop = run.analysis.stop;
    const row = document.createElement("tr");
    row.className = "run-row";
    row.dataset.run = run.run;
    const notes = (rec ? rec.caveats : []).concat(run.analysis.notes || []);
    row.innerHTML = `
      <td><input type="checkbox" ${hidden.has(run.run) ? "" : "checked"}></td>
      <td><span class="swatch" style="background:${colorOf(index)}"></span>${run.run}</td>
      <td class="recommended">${rec ? fmt(rec.learning_rate) : "-"}</td>
      <td>${rec ? `${fmt(rec.low)} .. ${fmt(rec.high)}` : "-"}</td>
      <td>${rec ? (rec.confident ? "yes" : "no") : "-"}</td>
      <td>${run.verified_rate !== null && run.verified_rate !== undefined ? fmt(run.verified_rate) +
        ` (${run.trials.length} trials)` : "-"}</td>
      <td>${stop.reason} at ${fmt(stop.learning_rate)}</td>
      <td class="muted">${notes.map((n) => `<div>${n}</div>`).join("")}</td>`;
    row.querySelector("input").addEventListener("change", (event) => {
      if (event.target.checked) hidden.delete(run.run); else hidden.add(run.run);
      draw();
    });
    body.appendChild(row);
  });
}

function drawPlot(visible, all) {
  const svg = document.getElementById("plot");
  svg.innerHTML = "";
  if (!visible.length) return;
  const rates = visible.flatMap((run) => run.points.learning_rate.filter((r) => r > 0));
  const [xmin, xmax] = [Math.log10(Math.min(...rates)), Math.log10(Math.max(...rates))];
  const [ymin, ymax] = yDomain(visible);
  const innerW = WIDTH - MARGIN.left - MARGIN.right, innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (rate) => MARGIN.left + ((Math.log10(rate) - xmin) / (xmax - xmin || 1)) * innerW;
  const y = (loss) => MARGIN.top + (1 - (Math.min(Math.max(loss, ymin), ymax) - ymin) / (ymax - ymin)) * innerH;
  drawAxes(svg, x, y, xmin, xmax, ymin, ymax);
  const clip = el("clipPath", {id: "inner"}, el("defs", {}, svg));
  el("rect", {x: MARGIN.left, y: MARGIN.top, width: innerW, height: innerH}, clip);
  const layer = el("g", {"clip-path": "url(#inner)"}, svg);
  for (const run of visible) {
    const color = colorOf(all.indexOf(run));
    const {learning_rate: lr, loss, smoothed_loss: smoothed, val_loss: val} = run.points;
    const rec = run.analysis.recommended;
    if (rec) {
      el("rect", {x: x(rec.low), y: MARGIN.top, width: Math.max(1, x(rec.high) - x(rec.low)), height: innerH,
        fill: color, opacity: 0.08, class: "recommended-band"}, layer);
      el("line", {x1: x(rec.learning_rate), x2: x(rec.learning_rate), y1: MARGIN.top, y2: MARGIN.top + innerH,
        stroke: color, "stroke-dasharray": "6 4", "stroke-width": 1.5, class: "recommended-line"}, layer);
    }
    const stop = run.analysis.stop;
    el("line", {x1: x(stop.learning_rate), x2: x(stop.learning_rate), y1: MARGIN.top, y2: MARGIN.top + innerH,
      stroke: color, "stroke-dasharray": "2 3", class: "stop-line"}, layer);
    el("path", {d: pathOf(lr, loss, x, y), fill: "none", stroke: color, opacity: 0.3, class: "raw-loss"}, layer);
    el("path", {d: pathOf(lr, smoothed, x, y), fill: "none", stroke: color, "stroke-width": 2,
      class: "smoothed-loss"}, layer);
    if (val) {
      lr.forEach((rate, i) => {
        if (val[i] !== null) el("circle", {cx: x(rate), cy: y(val[i]), r: 2.5, fill: color, class: "val-loss"}, layer);
      });
    }
    for (const [rule, suggestion] of Object.entries(run.analysis.rules)) {
      if (!suggestion) continue;
      const at = interpolate(lr, smoothed, suggestion.learning_rate);
      const marker = drawMarker(layer, MARKERS[rule], x(suggestion.learning_rate), y(at), color);
      el("title", {}, marker).textContent = `${LABELS[rule]}: ${fmt(suggestion.learning_rate)}`;
    }
    for (const trial of run.trials) {
      const isWinner = trial.verified === true;
      const tick = el("line", {x1: x(trial.learning_rate), x2: x(trial.learning_rate), y1: MARGIN.top + innerH - (isWinner ? 18 : 10),
        y2: MARGIN.top + innerH, stroke: color, "stroke-width": isWinner ? 3 : 1.5, class: "trial"}, layer);
      el("title", {}, tick).textContent = `trial ${fmt(trial.learning_rate)}${isWinner ? " (verified)" : ""}`;
    }
  }
  hover(svg, visible, all, x, y);
}

function pathOf(rates, values, x, y) {
  let d = "", pen = "M";
  rates.forEach((rate, i) => {
    if (values[i] === null || !(rate > 0)) { pen = "M"; return; }
    d += `${pen}${x(rate).toFixed(1)},${y(values[i]).toFixed(1)}`;
    pen = "L";
  });
  return d;
}

function interpolate(rates, values, rate) {
  let best = 0;
  rates.forEach((r, i) => { if (Math.abs(Math.log(r / rate)) < Math.abs(Math.log(rates[best] / rate))) best = i; });
  return values[best] === null ? 0 : values[best];
}

function drawMarker(parent, shape, cx, cy, color) {
  const common = {fill: color, stroke: "#212121", "stroke-width": 1, class: `marker marker-${shape}`};
  if (shape === "circle") return el("circle", {cx, cy, r: 5, ...common}, parent);
  if (shape === "square") return el("rect", {x: cx - 4.5, y: cy - 4.5, width: 9, height: 9, ...common}, parent);
  if (shape === "triangle") return el("path", {d: `M${cx},${cy + 6}L${cx - 6},${cy - 5}L${cx + 6},${cy - 5}Z`, ...common}, parent);
  return el("path", {d: `M${cx},${cy - 6}L${cx + 6},${cy}L${cx},${cy + 6}L${cx - 6},${cy}Z`, ...common}, parent);
}

function drawAxes(svg, x, y, xmin, xmax, ymin, ymax) {
  const grid = el("g", {class: "grid"}, svg), axis = el("g", {class: "axis"}, svg);
  const bottom = HEIGHT - MARGIN.bottom;
  for (let p = Math.ceil(xmin); p <= Math.floor(xmax); p++) {
    el("line", {x1: x(10 ** p), x2: x(10 ** p), y1: MARGIN.top, y2: bottom}, grid);
    el("text", {x: x(10 ** p), y: bottom + 16, "text-anchor": "middle"}, axis).textContent = `1e${p}`;
  }
  for (let k = 0; k <= 4; k++) {
    const value = ymin + ((ymax - ymin) * k) / 4;
    el("line", {x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value)}, grid);
    el("text", {x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end"}, axis).textContent = value.toPrecision(3);
  }
  el("line", {x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: bottom, y2: bottom}, axis);
  el("line", {x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom}, axis);
  el("text", {x: (MARGIN.left + WIDTH - MARGIN.right) / 2, y: HEIGHT - 8, "text-anchor": "middle"}, axis)
    .textContent = "learning rate (log scale)";
  el("text", {x: 14, y: (MARGIN.top + bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(MARGIN.top + bottom) / 2})`}, axis).textContent = "loss";
}

// Hovering shows, for each visible run, the step nearest the cursor's rate:
// its rate, raw loss and smoothed loss.
function hover(svg, visible, all, x, y) {
  const tooltip = document.getElementById("tooltip");
  const cursor = el("line", {y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, stroke: "#bdbdbd", visibility: "hidden"}, svg);
  svg.addEventListener("mousemove", (event) => {
    const box = svg.getBoundingClientRect();
    const px = event.clientX - box.left;
    const lines = [];
    for (const run of visible) {
      const {step, learning_rate: lr, loss, smoothed_loss: smoothed} = run.points;
      let best = 0;
      lr.forEach((rate, i) => { if (Math.abs(x(rate) - px) < Math.abs(x(lr[best]) - px)) best = i; });
      lines.push(`${run.run}: step ${step[best]}, rate ${fmt(lr[best])}, loss ${fmt(loss[best])}, smoothed ${fmt(smoothed[best])}`);
    }
    cursor.setAttribute("x1", px); cursor.setAttribute("x2", px); cursor.setAttribute("visibility", "visible");
    tooltip.textContent = lines.join("\n");
    tooltip.style.display = "block";
    tooltip.style.left = `${Math.min(px + 12, WIDTH - 200)}px`;
    tooltip.style.top = `${event.clientY - box.top + 12}px`;
  });
  svg.addEventListener("mouseleave", () => { tooltip.style.display = "none"; cursor.setAttribute("visibility", "hidden"); });
}
