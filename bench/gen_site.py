#!/usr/bin/env python3
"""Generate a deterministic static site for crawl benchmarks.

usage: gen_site.py DIR PAGES

Page 0 is /index.html; page i is /p/i.html. Every page is reachable from "/" (page i
links to its tree children 3i+1..3i+3) and carries ~35 more links: navigation, random
pages (relative, absolute, ../, query and fragment variants, duplicates), off-site,
mailto and non-HTML links, and ~2% broken links. Pages are 15-30 KB of plain HTML.
"""
import os
import random
import sys

WORDS = ("crawler frontier politeness robots fetch parse link queue host rate "
         "shard record archive dataset scope depth canonical redirect charset").split()


def page(i, n, rnd):
    links = []
    for c in range(3 * i + 1, 3 * i + 4):
        if c < n:
            links.append(f"/p/{c}.html")
    links += ["/", "/index.html", "../p/0.html" if i else "/p/1.html"]
    for _ in range(rnd.randint(20, 40)):
        t = rnd.randrange(n)
        kind = rnd.randrange(8)
        if kind == 0:
            links.append(f"http://{{HOST}}/p/{t}.html")
        elif kind == 1:
            links.append(f"../p/{t}.html")
        elif kind == 2:
            links.append(f"/p/{t}.html?ref=nav")
        elif kind == 3:
            links.append(f"/p/{t}.html#section")
        else:
            links.append(f"/p/{t}.html")
    links += ["https://offsite.example/", "mailto:someone@example.com", "/files/report.pdf"]
    if rnd.random() < 0.6:
        links.append(f"/missing/{rnd.randrange(10**6)}.html")
    rnd.shuffle(links)
    paras = []
    size = 0
    target = rnd.randint(15000, 30000)
    while size < target:
        p = " ".join(rnd.choice(WORDS) for _ in range(60))
        paras.append(f"<p>{p}</p>")
        size += len(p) + 7
    body = "\n".join(paras)
    anchors = "\n".join(f'<li><a href="{l}">link {k}</a></li>' for k, l in enumerate(links))
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Page {i}</title>"
            f"<meta name=\"description\" content=\"benchmark page {i}\"></head><body>"
            f"<nav><a href=\"/\">home</a></nav><h1>Page {i}</h1><ul>{anchors}</ul>"
            f"<main>{body}</main><footer>generated</footer></body></html>\n")


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:8080"
    os.makedirs(os.path.join(out, "p"), exist_ok=True)
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    rnd = random.Random(42)
    for i in range(n):
        html = page(i, n, rnd).replace("{HOST}", host)
        name = "index.html" if i == 0 else f"p/{i}.html"
        with open(os.path.join(out, name), "w") as f:
            f.write(html)
    with open(os.path.join(out, "p", "0.html"), "w") as f:
        f.write(page(0, n, rnd).replace("{HOST}", host))
    with open(os.path.join(out, "files", "report.pdf"), "wb") as f:
        f.write(b"%PDF-1.4\n" + b"0" * 2000)


if __name__ == "__main__":
    main()
