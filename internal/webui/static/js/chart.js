// chart.js: stacked bar charts as inline SVG (no library: a few dozen
// lines, no inline styles, colours from CSS classes).
import {h, s} from "./dom.js";

// barChart draws rows [{label, parts: {series: value}}] as stacked bars.
export function barChart(title, rows, unit = "") {
  const series = [...new Set(rows.flatMap(r => Object.keys(r.parts)))];
  const W = 360, H = 170, pad = 28, bottom = 20;
  const max = Math.max(1, ...rows.map(r => Object.values(r.parts).reduce((a, b) => a + b, 0)));
  const bw = rows.length ? Math.min(40, Math.max(2, (W - pad) / rows.length - 4)) : 0;
  const g = s("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title});
  g.append(s("line", {x1: pad, y1: H - bottom, x2: W, y2: H - bottom, class: "axis"}));
  g.append(s("text", {x: 0, y: 12, class: "tick"}, fmt(max)));
  g.append(s("text", {x: 0, y: H - bottom, class: "tick"}, "0"));
  rows.forEach((r, i) => {
    let y = H - bottom;
    const x = pad + i * (bw + 4) + 2;
    series.forEach((name, si) => {
      const v = r.parts[name] || 0;
      if (!v) return;
      const bh = (v / max) * (H - bottom - 16);
      y -= bh;
      g.append(s("rect", {x, y, width: bw, height: bh, class: "s" + (si % 6)},
        s("title", {}, `${r.label} · ${name}: ${fmt(v)}${unit}`)));
    });
    if (rows.length <= 16 || i % Math.ceil(rows.length / 8) === 0) {
      g.append(s("text", {x: x + bw / 2, y: H - 6, class: "tick mid"}, r.label.length > 12 ? r.label.slice(0, 11) + "…" : r.label));
    }
  });
  const legend = h("ul", {class: "legend"}, series.map((n, si) => h("li", {}, h("span", {class: "sw s" + (si % 6)}), n)));
  return h("figure", {class: "chart-box"}, h("figcaption", {}, title), rows.length ? g : h("p", {class: "empty"}, "No data for this period."), series.length > 1 ? legend : null);
}

// gauge is a horizontal bar: used of total (spent, reserved).
export function gauge(label, spent, reserved, total) {
  const W = 300;
  const f = v => Math.max(0, Math.min(W, (v / Math.max(total, 1)) * W));
  return h("figure", {class: "gauge"}, h("figcaption", {}, label),
    s("svg", {viewBox: `0 0 ${W} 12`, role: "img", "aria-label": label},
      s("rect", {x: 0, y: 0, width: W, height: 12, class: "track"}),
      s("rect", {x: 0, y: 0, width: f(spent), height: 12, class: "s0"}),
      s("rect", {x: f(spent), y: 0, width: f(reserved), height: 12, class: "s1"})));
}

export function fmt(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  return String(Math.round(n * 100) / 100);
}
