#!/usr/bin/env python3
"""A script-built site for the rendering benchmark: N pages, each an empty shell
(`<div id="root"></div>` and a script bundle) whose script loads the page's data
by XHR from the same host and builds its heading, text and links. Page i links to
pages 10i+1 .. 10i+10 (those below N) and back to page 0, so every page has a link
and a breadth-first crawl of /p/0.html reaches all N. No images or fonts: what a
renderer blocks or not does not change the work.

usage: bench/render_site.py DIR PAGES
"""
import json, os, sys

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{out}/p", exist_ok=True)
os.makedirs(f"{out}/data", exist_ok=True)
with open(f"{out}/app.js", "w") as f:
    f.write("""fetch('/data/' + window.PAGE + '.json').then(r => r.json()).then(d => {
  const root = document.getElementById('root');
  const h = document.createElement('h1'); h.textContent = d.title; root.appendChild(h);
  const p = document.createElement('p'); p.textContent = d.text; root.appendChild(p);
  const nav = document.createElement('nav');
  for (const k of d.links) {
    const a = document.createElement('a'); a.href = '/p/' + k + '.html'; a.textContent = 'page ' + k;
    nav.appendChild(a);
  }
  root.appendChild(nav);
  document.title = d.title;
});
""")
words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()
for i in range(n):
    with open(f"{out}/p/{i}.html", "w") as f:
        f.write(f"<!doctype html><html><head><title>loading</title></head><body>"
                f"<div id=\"root\"></div><script>window.PAGE = {i};</script>"
                f"<script src=\"/app.js\"></script></body></html>")
    links = [k for k in range(10 * i + 1, 10 * i + 11) if k < n] + [0]
    text = " ".join(words[(i + j) % len(words)] for j in range(300))
    with open(f"{out}/data/{i}.json", "w") as f:
        json.dump({"title": f"page {i}", "text": text, "links": links}, f)
