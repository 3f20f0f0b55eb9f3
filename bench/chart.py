#!/usr/bin/env python3
"""bench/chart.py — draw the main ratios of a bench/run.sh run as a self-contained SVG.

    python3 bench/chart.py results/latest.tsv results/latest-memory.tsv > results/latest.svg

run.sh calls it on every run. Reads the per-round figures (medians are taken here, as run.sh does) and
the memory figures, and draws four panels: req/s, CPU µs per request and p99 as ratios to nginx (per
scenario; dashed lines mark nginx = 1 and the issue-10 aim for Meshgate), and memory in MiB.
Standard library only.
"""
import csv
import datetime
import statistics
import sys
from html import escape

TARGETS = [("meshgate", "Meshgate", "#2b6cb0"), ("haproxy", "HAProxy", "#dd6b20"), ("yarp", "bare YARP", "#718096")]
MEM_TARGETS = [("meshgate", "Meshgate", "#2b6cb0"), ("nginx", "nginx", "#38a169"),
               ("haproxy", "HAProxy", "#dd6b20"), ("yarp", "bare YARP", "#718096")]
SCENARIOS = [("h1", "HTTP/1.1, 20 B"), ("h1-1k", "HTTP/1.1, 1 KiB"), ("h1-64k", "HTTP/1.1, 64 KiB"), ("h2c", "h2c, 20 B")]

WIDTH, LEFT, RIGHT = 760, 150, 70
BAR, GAP, GROUP_GAP = 13, 2, 10


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def median_of(rows, target, scenario, column):
    values = [float(r[column]) for r in rows
              if r["target"] == target and r.get("scenario", "h1") == scenario and r.get(column, "") not in ("", None)]
    return statistics.median(values) if values else None


def ratio(v, base):
    return v / base if v is not None and base else None


class Svg:
    def __init__(self):
        self.parts, self.y = [], 0

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#1a202c"):
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'font-weight="{weight}" fill="{fill}">{escape(s)}</text>')

    def panel(self, title, groups, series, lines, fmt):
        """groups: [(label, {key: value})]; series: [(key, label, colour)]; lines: [(value, label, colour)]."""
        values = [v for _, vals in groups for v in vals.values() if v is not None] + [v for v, _, _ in lines]
        if not any(v is not None for _, vals in groups for v in vals.values()):
            return
        top = max(values) * 1.08 if values else 1
        plot = WIDTH - LEFT - RIGHT
        x_of = lambda v: LEFT + plot * v / top
        self.y += 26
        self.text(10, self.y, title, size=14, weight="bold")
        self.y += 8
        y0 = self.y
        for label, vals in groups:
            present = [(k, l, c) for k, l, c in series if vals.get(k) is not None]
            if not present:
                continue
            h = len(present) * (BAR + GAP)
            self.text(LEFT - 8, self.y + h / 2 + 4, label, anchor="end")
            for key, _, colour in present:
                v = vals[key]
                self.parts.append(f'<rect x="{LEFT}" y="{self.y:.1f}" width="{max(x_of(v) - LEFT, 1):.1f}" height="{BAR}" fill="{colour}"/>')
                self.text(x_of(v) + 4, self.y + BAR - 2, fmt(v), size=10)
                self.y += BAR + GAP
            self.y += GROUP_GAP
        for i, (v, label, colour) in enumerate(lines):   # one label line each, so close lines stay readable
            x = x_of(v)
            self.parts.append(f'<line x1="{x:.1f}" y1="{y0 - 2}" x2="{x:.1f}" y2="{self.y - GROUP_GAP + 4 + 12 * i}" '
                              f'stroke="{colour}" stroke-dasharray="4 3"/>')
            self.text(x, self.y + 6 + 12 * i, label, size=10, anchor="middle", fill=colour)
        self.y += 10 + 12 * max(len(lines) - 1, 0)

    def legend(self, series):
        x = LEFT
        self.y += 18
        for _, label, colour in series:
            self.parts.append(f'<rect x="{x}" y="{self.y - 10}" width="12" height="12" fill="{colour}"/>')
            self.text(x + 16, self.y, label)
            x += 16 + 8 * len(label) + 24

    def render(self):
        h = self.y + 20
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h:.0f}" viewBox="0 0 {WIDTH} {h:.0f}" '
                f'font-family="Helvetica, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: chart.py latest.tsv [latest-memory.tsv] > latest.svg")
    rows = read_rows(sys.argv[1])
    memory = read_rows(sys.argv[2]) if len(sys.argv) == 3 else []
    svg = Svg()
    svg.y = 10
    svg.text(10, svg.y + 14, "Meshgate and its peers against nginx (bench/run.sh)", size=16, weight="bold")
    svg.y += 32
    svg.text(10, svg.y, f"Medians over rounds from {sys.argv[1].split('/')[-1]}, drawn "
                        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. nginx = 1.", size=11, fill="#4a5568")
    svg.legend(TARGETS)

    def ratio_groups(column, scenarios):
        groups = []
        for scenario, label in scenarios:
            base = median_of(rows, "nginx", scenario, column)
            groups.append((label, {k: ratio(median_of(rows, k, scenario, column), base) for k, _, _ in TARGETS}))
        return groups

    times = lambda v: f"{v:.2f}×"
    svg.panel("Requests per second ÷ nginx's (higher is better)", ratio_groups("rps", SCENARIOS), TARGETS,
              [(1.0, "nginx", "#38a169"), (0.8, "aim 0.8", "#c53030")], times)
    svg.panel("Proxy CPU µs per request ÷ nginx's (lower is better)", ratio_groups("cpu_us_per_req", SCENARIOS), TARGETS,
              [(1.0, "nginx", "#38a169"), (1.5, "aim 1.5", "#c53030")], times)
    latency = ratio_groups("p99_us", [("h1", "p99, closed loop"), ("open", "p99, open loop")]) + \
        ratio_groups("p999_us", [("open", "p99.9, open loop")])
    svg.panel("Latency ÷ nginx's (lower is better; the open loop runs at a fixed rate)", latency, TARGETS,
              [(1.0, "nginx", "#38a169")], times)
    if memory:
        def mem(column):
            out = {}
            for k, _, _ in MEM_TARGETS:
                r = next((r for r in memory if r["target"] == k and r.get(column)), None)
                out[k] = float(r[column]) / 1024 if r else None
            return out
        svg.y += 6
        svg.legend(MEM_TARGETS)
        svg.panel("Memory, MiB (lower is better)", [("idle RSS", mem("idle_rss_kib")),
                                                   ("per 1,000 idle conns", mem("rss_per_1k_conns_kib"))],
                  MEM_TARGETS, [(60.0, "aim: idle < 60", "#c53030")], lambda v: f"{v:.1f}")
    sys.stdout.write(svg.render())


if __name__ == "__main__":
    main()
