// md.js: a small Markdown subset rendered straight to DOM nodes (fenced
// code blocks with a language label and Copy, paragraphs, headings, lists,
// quotes, inline code, bold, italic, http(s) links). Every piece of text
// becomes a text node: no HTML a model or a user writes reaches the DOM,
// whatever it contains, so there is nothing to sanitise.
import {h, copyButton} from "./dom.js";

export function markdown(src) {
  const out = document.createDocumentFragment();
  const lines = String(src).split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/);
    if (fence) {
      const close = fence[1];
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(close)) code.push(lines[i++]);
      i++; // the closing fence (or the end: a block still streaming)
      out.append(codeBlock(code.join("\n"), fence[2]));
      continue;
    }
    if (!line.trim()) { i++; continue; }
    const hd = line.match(/^(#{1,6})\s+(.*)$/);
    if (hd) {
      out.append(h("h" + Math.min(hd[1].length + 2, 6), {class: "md-h"}, inline(hd[2])));
      i++;
      continue;
    }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? "ol" : "ul", {});
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        list.append(h("li", {}, inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""))));
        i++;
      }
      out.append(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      const q = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) q.push(lines[i++].replace(/^>\s?/, ""));
      out.append(h("blockquote", {}, markdown(q.join("\n"))));
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^\s*(```|~~~|#{1,6}\s|>|[-*+]\s|\d+[.)]\s)/.test(lines[i])) para.push(lines[i++]);
    if (!para.length) para.push(lines[i++]);
    const p = h("p", {});
    para.forEach((l, n) => { if (n) p.append(h("br")); p.append(inline(l)); });
    out.append(p);
  }
  return out;
}

function codeBlock(code, lang) {
  return h("div", {class: "code"},
    h("div", {class: "code-head"}, h("span", {}, lang || "code"), copyButton(() => code)),
    h("pre", {tabindex: "0"}, h("code", {}, code)));
}

// inline renders `code`, **bold**, *italic* and [text](https://…).
const inlineRe = /(`+)([^`]+?)\1|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;
function inline(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(inlineRe)) {
    if (m.index > last) frag.append(text.slice(last, m.index));
    if (m[2] !== undefined) frag.append(h("code", {}, m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) frag.append(h("strong", {}, m[3] ?? m[4]));
    else if (m[5] !== undefined) frag.append(h("em", {}, m[5]));
    else frag.append(h("a", {href: m[7], rel: "noopener noreferrer nofollow", target: "_blank"}, m[6]));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}
