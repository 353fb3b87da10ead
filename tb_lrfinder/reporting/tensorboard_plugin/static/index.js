// LR Finder dashboard: the rate to use for each range-test run, and loss
// against learning rate (log axis), drawn as plain SVG. TensorBoard loads this
// ES module in an iframe and calls render(); the data comes from ./runs (the
// plugin's backend, which analyses each run with tb_lrfinder's own pipeline).
//
// A log directory is untrusted input: every string that comes from it (run
// names, tags, caveats, notes, skip reasons) reaches the page through
// textContent or createTextNode, never as markup. Only this file's own
// constant template is ever set as HTML.

const PALETTE = ["#ff7043", "#0077bb", "#009988", "#ee3377", "#33bbee", "#cc3311", "#aa3377", "#777777"];
const MARKERS = {safe: "circle", steepest: "triangle", min_loss_div10: "square", valley: "diamond"};
const LABELS = {safe: "safe", steepest: "steepest", min_loss_div10: "min loss / 10", valley: "valley"};
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 860, HEIGHT = 460, MARGIN = {left: 64, right: 16, top: 16, bottom: 44};
const REFRESH_MS = 5000;

const hidden = new Set();  // runs unticked in the table
let selected = null;  // the run whose range, rules and trials are drawn (null: the first)
let highlighted = null;  // the run under the pointer (its row or its curve)
let latest = null;  // the last answer of ./runs
let view = null;  // what the pointer handlers need of the last drawing: scales and visible runs

const TEMPLATE = `
  <style>
    body { font-family: Roboto, sans-serif; font-size: 13px; margin: 16px; color: #212121; }
    h2 { font-size: 16px; font-weight: 500; margin: 0 0 8px; }
    #headlines { margin: 0 0 10px; }
    .headline { margin: 2px 0; cursor: pointer; }
    .headline .rate { font-size: 15px; font-weight: 600; }
    .headline.selected { background: #fff3e0; }
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
    tr.run-row { cursor: pointer; }
    tr.run-row.selected { background: #fff3e0; }
    .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
    .muted { color: #757575; }
    .name { word-break: break-all; }
    #empty { color: #757575; margin: 24px 0; }
  </style>
  <h2>The rate to use</h2>
  <div id="headlines"></div>
  <h2>Loss against learning rate</h2>
  <div class="muted">Raw loss faint, smoothed solid. Solid vertical line: the rate to use (verified by trials where
    there are any, else recommended); dashed: the recommended rate where the trials chose another; dotted: where
    the sweep stopped. For the selected run (click a row or a headline): the recommended range as a band, the rules'
    rates as markers, the trials as ticks on the axis.</div>
  <div id="legend" class="muted"></div>
  <div id="empty" style="display:none"></div>
  <div id="chart"><svg id="plot" width="${WIDTH}" height="${HEIGHT}"></svg><div id="tooltip"></div></div>
  <table id="runs"><thead><tr><th>show</th><th>run</th><th>use</th><th>recommended</th><th>range</th>
    <th>confident</th><th>verified</th><th>stop</th><th>notes</th></tr></thead><tbody></tbody></table>
  <div id="skipped" class="muted"></div>
  <div id="notes" class="muted"></div>`;

export async function render() {
  document.body.innerHTML = TEMPLATE;  // constant markup only: nothing from the log directory
  drawLegend();
  const svg = document.getElementById("plot");
  svg.addEventListener("mousemove", onPointerMove);  // once: the handlers read `view`, redrawn each time
  svg.addEventListener("mouseleave", onPointerLeave);
  await poll();
}

// Asks for the runs again only once the last answer arrived and was drawn, so slow answers never pile up.
async function poll() {
  await refresh();
  setTimeout(poll, REFRESH_MS);
}

async function refresh() {
  const empty = document.getElementById("empty");
  try {
    const response = await fetch("./runs");
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    latest = await response.json();
  } catch (error) {
    empty.style.display = "";
    empty.textContent = `Could not load the runs: ${error}`;
    return;
  }
  draw();
}

function drawLegend() {
  const legend = document.getElementById("legend");
  legend.appendChild(document.createTextNode("Markers:"));
  for (const [rule, shape] of Object.entries(MARKERS)) {
    const svg = el("svg", {width: 14, height: 14, style: "vertical-align: middle; margin: 0 2px 0 10px"});
    drawMarker(svg, shape, 7, 7, "#bdbdbd");
    legend.appendChild(svg);
    legend.appendChild(document.createTextNode(LABELS[rule] + (rule === "safe" ? " (the recommended rule)" : "")));
  }
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

// An HTML element with text content (never markup) and attributes.
function html(name, text = null, attributes = {}, parent = null) {
  const node = document.createElement(name);
  if (text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

function minMax(values) {  // a loop, not Math.min(...values): a long run would overflow the call stack
  let low = Infinity, high = -Infinity;
  for (const v of values) {
    if (v === null || !isFinite(v)) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

function draw() {
  const runs = latest.runs;
  if (selected === null || !runs.some((run) => run.run === selected)) selected = runs.length ? runs[0].run : null;
  const empty = document.getElementById("empty");
  empty.style.display = runs.length ? "none" : "";
  empty.textContent = runs.length ? "" : "No range test found in this log directory yet: a run needs a " +
    "learning-rate and a loss series.";
  drawHeadlines(runs);
  drawTable(runs);
  drawPlot(runs.filter((run) => !hidden.has(run.run)), runs);
  // Runs that are not range tests (a log directory's trainings, say): one collapsed line, each run's
  // reason inside; opened, it stays open across refreshes.
  const skipped = document.getElementById("skipped");
  const open = skipped.querySelector("details")?.open ?? false;
  skipped.textContent = "";
  if (latest.skipped.length) {
    const details = html("details", null, {}, skipped);
    details.open = open;
    html("summary", `${latest.skipped.length} run(s) without a range test, not drawn: why`, {}, details);
    for (const s of latest.skipped.slice(0, 50)) html("div", `${s.run}: ${s.reason}`, {class: "skip"}, details);
  }
  const notes = document.getElementById("notes");
  notes.textContent = "";
  for (const note of latest.notes || []) html("div", note, {class: "note"}, notes);
}

// Why the rate to use is that one: ", verified by 5 trials", ", recommended (not confident ...)".
function useDetail(run) {
  const use = run.use;
  if (!use) return `no rate (${run.analysis.stop.message})`;
  const combines = use.combines ? ` (combines ${use.combines} sweeps)` : "";
  if (use.source === "verified") return `, verified by ${run.trials.length} trials${costText(run)}${combines}`;
  return ", recommended" + combines + (use.confident ? "" : " (not confident: see its notes below)");
}

// " (checked for 8% of the training's 3024 steps)": what the sweep and trials cost, where the training's length is known.
function costText(run) {
  const cost = run.verification_cost;
  if (!cost || typeof cost.share !== "number" || typeof cost.training_steps !== "number") return "";
  return ` (checked for ${Math.round(cost.share * 100)}% of the training's ${cost.training_steps} steps)`;
}

export function useText(run) {
  return run.use ? fmt(run.use.learning_rate) + useDetail(run) : useDetail(run);
}

function select(name) {
  selected = name;
  draw();
}

function drawHeadlines(runs) {
  const box = document.getElementById("headlines");
  box.textContent = "";
  runs.forEach((run, index) => {
    const line = html("div", null, {class: "headline" + (run.run === selected ? " selected" : "")}, box);
    line.dataset.run = run.run;
    html("span", null, {class: "swatch", style: `background:${colorOf(index)}`}, line);
    html("span", run.run, {class: "name"}, line);
    line.appendChild(document.createTextNode(": "));
    if (run.use) {
      line.appendChild(document.createTextNode("use "));
      html("span", fmt(run.use.learning_rate), {class: "rate"}, line);
    }
    line.appendChild(document.createTextNode(useDetail(run)));
    line.addEventListener("click", () => select(run.run));
  });
}

function drawTable(runs) {
  const body = document.querySelector("#runs tbody");
  body.textContent = "";
  runs.forEach((run, index) => {
    const rec = run.recommended;
    const stop = run.analysis.stop;
    const row = html("tr", null, {class: "run-row" + (run.run === selected ? " selected" : "")}, body);
    row.dataset.run = run.run;
    const show = html("input", null, {type: "checkbox"}, html("td", null, {}, row));
    show.checked = !hidden.has(run.run);
    show.addEventListener("click", (event) => event.stopPropagation());
    show.addEventListener("change", (event) => {
      if (event.target.checked) hidden.delete(run.run); else hidden.add(run.run);
      draw();
    });
    const name = html("td", null, {}, row);
    html("span", null, {class: "swatch", style: `background:${colorOf(index)}`}, name);
    html("span", run.run, {class: "name"}, name);
    html("td", run.use ? fmt(run.use.learning_rate) : "-", {class: "use"}, row);
    html("td", rec ? fmt(rec.learning_rate) : "-", {class: "recommended"}, row);
    html("td", rec ? `${fmt(rec.low)} .. ${fmt(rec.high)}` : "-", {}, row);
    html("td", rec ? (rec.confident ? "yes" : "no") : "-", {}, row);
    html("td", run.verified_rate !== null && run.verified_rate !== undefined
      ? `${fmt(run.verified_rate)} (${run.trials.length} trials)` : "-", {}, row);
    html("td", `${stop.reason} at ${fmt(stop.learning_rate)}`, {}, row);
    const notes = html("td", null, {class: "muted"}, row);
    const lines = (rec ? rec.caveats : []).concat(run.analysis.notes || []);
    if (run.points_drawn < run.points_total) {
      lines.push(`drawn: ${run.points_drawn} of ${run.points_total} points (the analysis read every one)`);
    }
    for (const line of lines) html("div", line, {}, notes);
    row.addEventListener("click", () => select(run.run));
    row.addEventListener("mouseenter", () => { highlighted = run.run; restyle(); });
    row.addEventListener("mouseleave", () => { highlighted = null; restyle(); });
    for (const sweep of run.repeats || []) {  // the sweeps a combined answer is made of, beneath it
      const sub = html("tr", null, {class: "repeat-row muted"}, body);
      html("td", "", {}, sub);
      html("td", `\u2514 ${sweep.run}`, {class: "name"}, sub);
      html("td", "", {}, sub);
      html("td", fmt(sweep.recommended), {}, sub);
      html("td", "", {}, sub);
      html("td", "", {}, sub);
      html("td", "", {}, sub);
      html("td", `${sweep.stop.reason} at ${fmt(sweep.stop.learning_rate)}`, {}, sub);
      html("td", "one of the sweeps", {}, sub);
    }
  });
}

// Tick values at 1, 2 or 5 times a power of ten, inside [low, high]: about `count` of them.
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const power = 10 ** Math.floor(Math.log10((high - low) / count));
  const many = (s) => Math.floor(high / s + 1e-9) - Math.ceil(low / s - 1e-9) + 1;
  let step = power;  // of 1, 2, 5 and 10 times the power, the step whose tick count is nearest `count`
  for (const m of [2, 5, 10]) {
    if (Math.abs(many(m * power) - count) <= Math.abs(many(step) - count)) step = m * power;
  }
  const ticks = [];
  for (let k = Math.ceil(low / step - 1e-9); k * step <= high + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

// The y range (as tb-lrfinder's plot): from the lowest smoothed loss before the stop to the starting level
// (the highest of the first tenth), with a margin; the explosion at a sweep's end would flatten the rest.
// A loss that never went below zero gets no negative range.
function yDomain(runs) {
  let low = Infinity, high = -Infinity, negative = false;
  for (const run of runs) {
    const {learning_rate: rates, smoothed_loss: smoothed, loss} = run.points;
    const stop = run.analysis.stop.learning_rate;
    const finite = [];
    smoothed.forEach((v, i) => { if (v !== null && rates[i] <= stop) finite.push(v); });
    if (!finite.length) continue;
    const [lo] = minMax(finite);
    const [, start] = minMax(finite.slice(0, Math.max(1, Math.floor(finite.length / 10))));
    low = Math.min(low, lo);
    high = Math.max(high, start);
    negative = negative || minMax(loss)[0] < 0;
  }
  if (!isFinite(low) || !isFinite(high)) return [0, 1];
  high = Math.max(high, low);
  const pad = high > low ? 0.15 * (high - low) : Math.max(Math.abs(high), 1) * 0.1;
  return [negative ? low - pad : Math.max(0, low - pad), high + 2 * pad];
}

function drawPlot(visible, all) {
  const svg = document.getElementById("plot");
  svg.textContent = "";
  view = null;
  if (!visible.length) return;
  let [rmin, rmax] = [Infinity, -Infinity];
  for (const run of visible) {
    const [lo, hi] = minMax(run.points.learning_rate.filter((r) => r > 0));
    rmin = Math.min(rmin, lo);
    rmax = Math.max(rmax, hi);
  }
  if (!isFinite(rmin)) return;
  const [xmin, xmax] = [Math.log10(rmin), Math.log10(rmax)];
  const [ymin, ymax] = yDomain(visible);
  const innerW = WIDTH - MARGIN.left - MARGIN.right, innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (rate) => MARGIN.left + ((Math.log10(rate) - xmin) / (xmax - xmin || 1)) * innerW;
  const y = (loss) => MARGIN.top + (1 - (Math.min(Math.max(loss, ymin), ymax) - ymin) / (ymax - ymin)) * innerH;
  drawAxes(svg, x, y, xmin, xmax, ymin, ymax);
  const clip = el("clipPath", {id: "inner"}, el("defs", {}, svg));
  el("rect", {x: MARGIN.left, y: MARGIN.top, width: innerW, height: innerH}, clip);
  const layer = el("g", {"clip-path": "url(#inner)"}, svg);
  const focus = visible.find((run) => run.run === selected) || visible[0];
  // The selected run last, on top of the others.
  for (const run of visible.filter((r) => r !== focus).concat([focus])) {
    const color = colorOf(all.indexOf(run));
    const group = el("g", {class: "run", "data-run": run.run}, layer);
    const {learning_rate: lr, loss, smoothed_loss: smoothed} = run.points;
    const rec = run.recommended;
    const isFocus = run === focus;
    if (rec && isFocus) {
      el("rect", {x: x(rec.low), y: MARGIN.top, width: Math.max(1, x(rec.high) - x(rec.low)), height: innerH,
        fill: color, opacity: 0.08, class: "recommended-band"}, group);
    }
    const stop = run.analysis.stop;
    el("line", {x1: x(stop.learning_rate), x2: x(stop.learning_rate), y1: MARGIN.top, y2: MARGIN.top + innerH,
      stroke: color, "stroke-dasharray": "2 3", class: "stop-line"}, group);
    el("path", {d: pathOf(lr, loss, x, y), fill: "none", stroke: color, opacity: 0.3, class: "raw-loss"}, group);
    el("path", {d: pathOf(lr, smoothed, x, y), fill: "none", stroke: color, "stroke-width": 2,
      class: "smoothed-loss"}, group);
    for (const sweep of (run.repeats || []).slice(1)) {  // the other sweeps of a combined answer, thin
      el("path", {d: pathOf(sweep.points.learning_rate, sweep.points.smoothed_loss, x, y), fill: "none",
        stroke: color, "stroke-width": 1, "stroke-dasharray": "4 2", opacity: 0.7, class: "repeat-loss"}, group);
    }
    if (rec && run.use && run.use.source === "verified" && Math.abs(Math.log(rec.learning_rate / run.use.learning_rate)) > 1e-6) {
      el("line", {x1: x(rec.learning_rate), x2: x(rec.learning_rate), y1: MARGIN.top, y2: MARGIN.top + innerH,
        stroke: color, "stroke-dasharray": "6 4", "stroke-width": 1, class: "recommended-line"}, group);
    }
    if (run.use) {
      const line = el("line", {x1: x(run.use.learning_rate), x2: x(run.use.learning_rate), y1: MARGIN.top,
        y2: MARGIN.top + innerH, stroke: color, "stroke-width": 2.5, class: "use-line"}, group);
      el("title", {}, line).textContent = `${run.run}: use ${useText(run)}`;
    }
    const validation = run.points.validation;
    if (validation) {
      validation.learning_rate.forEach((rate, i) => {
        if (validation.val_loss[i] !== null) {
          el("circle", {cx: x(rate), cy: y(validation.val_loss[i]), r: 2.5, fill: color, class: "val-loss"}, group);
        }
      });
    }
    for (const [rule, suggestion] of Object.entries(isFocus ? run.analysis.rules : {})) {
      if (!suggestion) continue;
      const at = interpolate(lr, smoothed, suggestion.learning_rate);
      const marker = drawMarker(group, MARKERS[rule], x(suggestion.learning_rate), y(at), color);
      el("title", {}, marker).textContent = `${LABELS[rule]}: ${fmt(suggestion.learning_rate)}`;
    }
    for (const trial of run.trials) {
      const isWinner = trial.verified === true;
      const tick = el("line", {x1: x(trial.learning_rate), x2: x(trial.learning_rate),
        y1: MARGIN.top + innerH - (isWinner ? 18 : 10), y2: MARGIN.top + innerH, stroke: color,
        "stroke-width": isWinner ? 3 : 1.5, class: "trial"}, group);
      el("title", {}, tick).textContent = `trial ${fmt(trial.learning_rate)}${isWinner ? " (verified)" : ""}`;
    }
  }
  const cursor = el("line", {y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, stroke: "#bdbdbd", visibility: "hidden",
    class: "cursor"}, svg);
  view = {x, visible, cursor};
  restyle();
}

// Fades every run but the highlighted one (the pointer's), or but the selected one where several are drawn.
function restyle() {
  const focus = highlighted || (latest && latest.runs.length > 1 ? selected : null);
  for (const group of document.querySelectorAll("#plot g.run")) {
    group.setAttribute("opacity", focus === null || group.dataset.run === focus ? 1 : 0.25);
  }
}

function pathOf(rates, values, x, y) {
  const parts = [];
  let pen = "M";
  rates.forEach((rate, i) => {
    if (values[i] === null || !(rate > 0)) { pen = "M"; return; }
    parts.push(`${pen}${x(rate).toFixed(1)},${y(values[i]).toFixed(1)}`);
    pen = "L";
  });
  return parts.join("");
}

function nearest(rates, rate) {  // index of the rate nearest `rate` in log terms
  let best = 0;
  rates.forEach((r, i) => { if (Math.abs(Math.log(r / rate)) < Math.abs(Math.log(rates[best] / rate))) best = i; });
  return best;
}

function interpolate(rates, values, rate) {
  const best = nearest(rates, rate);
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
    el("text", {x: x(10 ** p), y: bottom + 16, "text-anchor": "middle", class: "x-tick"}, axis).textContent = `1e${p}`;
  }
  for (const value of niceTicks(ymin, ymax)) {
    el("line", {x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value)}, grid);
    el("text", {x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end", class: "y-tick"}, axis)
      .textContent = String(value);
  }
  el("line", {x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: bottom, y2: bottom}, axis);
  el("line", {x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: bottom}, axis);
  el("text", {x: (MARGIN.left + WIDTH - MARGIN.right) / 2, y: HEIGHT - 8, "text-anchor": "middle"}, axis)
    .textContent = "learning rate (log scale)";
  el("text", {x: 14, y: (MARGIN.top + bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(MARGIN.top + bottom) / 2})`}, axis).textContent = "loss";
}

// Hovering shows, for each visible run, the drawn point nearest the pointer's rate: its step, rate, raw and
// smoothed loss; the run whose smoothed curve is nearest the pointer is highlighted.
function onPointerMove(event) {
  if (!view) return;
  const svg = document.getElementById("plot"), tooltip = document.getElementById("tooltip");
  const box = svg.getBoundingClientRect();
  const px = event.clientX - box.left;
  const lines = [];
  for (const run of view.visible) {
    const {step, learning_rate: lr, loss, smoothed_loss: smoothed} = run.points;
    let best = 0;
    lr.forEach((rate, i) => { if (Math.abs(view.x(rate) - px) < Math.abs(view.x(lr[best]) - px)) best = i; });
    lines.push(`${run.run}: step ${step[best]}, rate ${fmt(lr[best])}, loss ${fmt(loss[best])}, ` +
      `smoothed ${fmt(smoothed[best])}`);
  }
  view.cursor.setAttribute("x1", px);
  view.cursor.setAttribute("x2", px);
  view.cursor.setAttribute("visibility", "visible");
  tooltip.textContent = lines.join("\n");
  tooltip.style.display = "block";
  tooltip.style.left = `${Math.min(px + 12, WIDTH - 200)}px`;
  tooltip.style.top = `${event.clientY - box.top + 12}px`;
}

function onPointerLeave() {
  document.getElementById("tooltip").style.display = "none";
  if (view) view.cursor.setAttribute("visibility", "hidden");
}
