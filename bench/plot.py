#!/usr/bin/env python3
"""Plots a subscriber sweep (bench/sweep.sh output) as an SVG: p99 latency
and server memory per connection against subscribers. Standard library
only, so it runs wherever the bench does.

Usage: bench/plot.py bench/results/sweep-sse.jsonl > docs/bench-sweep.svg
"""
import json
import sys

W, H, PAD = 360, 240, 48


def panel(x0, title, points, unit, targets=()):
    """One line chart at horizontal offset x0; points are (x, y); targets
    are (y, label) drawn as dashed lines (issue 9's targets)."""
    xs = [p[0] for p in points] or [1]
    ys = [p[1] for p in points] + [t[0] for t in targets] or [1]
    xmax, ymax = max(xs) * 1.05, max(ys) * 1.15 or 1

    def px(x):
        return x0 + PAD + (W - 2 * PAD) * x / xmax

    def py(y):
        return H - PAD + -(H - 2 * PAD) * y / ymax

    out = [
        f'<text x="{x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">{title}</text>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(xmax)}" y2="{py(0)}" stroke="black"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(ymax)}" stroke="black"/>',
        f'<text x="{x0 + W / 2}" y="{H - 8}" text-anchor="middle">subscribers</text>',
        f'<text x="{x0 + 12}" y="{H / 2}" transform="rotate(-90 {x0 + 12} {H / 2})" '
        f'text-anchor="middle">{unit}</text>',
    ]
    for y, label in targets:
        out.append(
            f'<line x1="{px(0)}" y1="{py(y):.1f}" x2="{px(xmax)}" y2="{py(y):.1f}" '
            f'stroke="#d62728" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{px(xmax) - 2}" y="{py(y) - 4:.1f}" text-anchor="end" fill="#d62728" '
            f'font-size="10">{label}</text>'
        )
    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    for x, y in points:
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="#1f77b4"/>')
        out.append(
            f'<text x="{px(x):.1f}" y="{py(y) - 8:.1f}" text-anchor="middle" '
            f'font-size="10">{y:.1f}</text>'
        )
        out.append(
            f'<text x="{px(x):.1f}" y="{py(0) + 14:.1f}" text-anchor="middle" '
            f'font-size="10">{x // 1000}k</text>'
        )
    return out


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    runs.sort(key=lambda r: r["subscribers"])
    p99 = [(r["connected"], r["latency_ms"]["p99"]) for r in runs]
    kib = [(r["connected"], r["server"]["kib_per_conn"]) for r in runs if r.get("server")]
    body = panel(
        0, "p99 publish-to-receive", p99, "ms",
        [(50, "target at 10k: 50 ms"), (100, "target at 19k: 100 ms")],
    ) + panel(
        W, "server memory per idle connection", kib, "KiB", [(8, "target: 8 KiB")]
    )
    print(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H}" '
        f'font-family="sans-serif" font-size="12">'
    )
    print('<rect width="100%" height="100%" fill="white"/>')
    print("\n".join(body))
    print("</svg>")


if __name__ == "__main__":
    main()
