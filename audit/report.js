// The audit report's table: every image's row, one page drawn at a time, sortable by
// any column and filtered by name, labels, outcome and familiarity (see audit/page.py).
"use strict";
// The rows come from the script files the page loads before this one (audit/page.py).
const FIELDS = LUNGGATE_FIELDS;
const HEADERS = {path: "image", truth: "your label", label: "predicted", p: "p",
  in_lung: "in-lung", lift: "lift", ceiling: "ceiling", outcome: "outcome",
  reason: "reason", thumb: "Grad-CAM", familiarity: "familiarity", familiar: "familiar"};
const PAGE = 50;
const all = LUNGGATE_ROWS;
const labelled = all.some(r => r[1]);
const shownFields = FIELDS.filter(f => labelled || f !== "truth");
let view = all, page = 0, sortField = null, ascending = true;
const $ = id => document.getElementById(id);
const head = document.querySelector("#results thead tr");
for (const f of shownFields) {
  const th = document.createElement("th");
  th.textContent = HEADERS[f]; th.dataset.field = f;
  if (f !== "thumb") th.onclick = () => sortBy(f);
  head.appendChild(th);
}
function value(row, f) { return row[FIELDS.indexOf(f)]; }
function sortBy(f) {
  ascending = sortField === f ? !ascending : true; sortField = f;
  for (const th of head.children)
    th.className = th.dataset.field === f ? (ascending ? "asc" : "desc") : "";
  apply();
}
function compare(a, b) {
  const x = value(a, sortField), y = value(b, sortField);
  if (x === y) return 0;
  if (x === null || x === "") return 1;   // blanks last either way
  if (y === null || y === "") return -1;
  const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
  return ascending ? order : -order;
}
function apply() {
  const text = $("search").value.toLowerCase(), label = $("label").value;
  const truth = $("truth") ? $("truth").value : "", outcome = $("outcome").value;
  const familiar = $("familiar").value, known = FIELDS.indexOf("familiar");
  view = all.filter(r =>
    (!text || r[0].toLowerCase().includes(text)) && (!label || r[2] === label) &&
    (!truth || r[1] === truth) && (!familiar || r[known] === familiar) &&
    (!outcome || (outcome === "misclassified" ? r[1] && r[2] && r[1] !== r[2]
                                              : r[7] === outcome)));
  if (sortField) view = view.slice().sort(compare);
  page = 0; draw();
}
function cell(row, f) {
  const td = document.createElement("td"), v = value(row, f);
  if (f === "thumb") {
    if (v) {
      const img = new Image(64, 64);
      img.loading = "lazy"; img.src = v; td.appendChild(img);
    }
  } else td.textContent = v === null ? "" : v;
  if (f === "outcome") td.className = v;
  return td;
}
function draw() {
  const pages = Math.max(1, Math.ceil(view.length / PAGE));
  page = Math.min(Math.max(page, 0), pages - 1);
  const body = document.querySelector("#results tbody");
  const rows = document.createDocumentFragment();
  for (const r of view.slice(page * PAGE, (page + 1) * PAGE)) {
    const tr = document.createElement("tr");
    if (r[1] && r[2] && r[1] !== r[2]) tr.className = "miss";
    for (const f of shownFields) tr.appendChild(cell(r, f));
    rows.appendChild(tr);
  }
  body.replaceChildren(rows);
  $("page").textContent = `page ${page + 1} of ${pages}`;
  $("shown").textContent = `${view.length} of ${all.length} images`;
}
for (const id of ["search", "label", "truth", "outcome", "familiar"]) {
  const control = $(id);
  if (control) control.addEventListener(control.tagName === "SELECT" ? "change" : "input", apply);
}
$("prev").onclick = () => { page--; draw(); };
$("next").onclick = () => { page++; draw(); };
draw();
