"""Build-time tool: draw one original SVG cover illustration per article (`make covers`).

Every article in ``data/articles/<slug>.md`` gets ``assets/covers/<slug>.svg``: a
1200x675 editorial illustration with no text and no external references. Each
category has its own palettes and motif family; the article's slug seeds a
``random.Random`` (through SHA-256, so the output is stable across runs and
machines) and its tags steer which motif of the family is drawn.

Run ``python -m media_demo.articles.cover_art`` to regenerate every cover. Files
whose content would not change are left untouched, so the command is idempotent.
Nothing that serves a page imports this module: request-time code finds the
covers through `media_demo.articles.cover_urls`.
"""

import argparse
import hashlib
import math
import os
import random
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from media_demo.articles.corpus import Article, CorpusError, article_paths, parse_article
from media_demo.articles.cover_urls import COVERS_DIR, cover_path
from media_demo.settings import ARTICLES_DIR

__all__ = [
    "COVER_HEIGHT",
    "COVER_WIDTH",
    "ArticleInfo",
    "Palette",
    "generate_covers",
    "load_articles",
    "main",
    "palette_index",
    "render_cover",
    "seed_for",
    "write_cover",
]

COVER_WIDTH = 1200
COVER_HEIGHT = 675
W = float(COVER_WIDTH)
H = float(COVER_HEIGHT)

Point = tuple[float, float]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ArticleInfo:
    """The few fields of an article that shape its cover (`slug` seeds the drawing)."""

    slug: str
    category: str
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, article: Article, seed_name: str | None = None) -> "ArticleInfo":
        """`article`'s fields, seeded by `seed_name` (a variant's file name) instead of its slug when given."""
        return cls(seed_name or article.slug, article.category, article.tags)


@dataclass(frozen=True)
class Palette:
    """Background gradient, three accents, a deep ink and a light tone."""

    background: tuple[str, str]
    accents: tuple[str, str, str]
    ink: str
    light: str
    dark: bool


PALETTES: dict[str, tuple[Palette, ...]] = {
    "technology": (
        Palette(("#0b1d33", "#15406a"), ("#3fd0c9", "#8fc9ff", "#f4b860"), "#06121f", "#e6f3f8", True),
        Palette(("#191332", "#2e2466"), ("#7ee0c3", "#b39dff", "#ff9f7a"), "#0c0a1b", "#efeaff", True),
        Palette(("#0f2426", "#1d4a4c"), ("#5ee0b0", "#9bd3e6", "#ffcf6b"), "#071314", "#e8f6f2", True),
    ),
    "business": (
        Palette(("#f3ede2", "#e2d6c2"), ("#1f3a5f", "#c8963e", "#7a8f7b"), "#1b2430", "#fbf8f2", False),
        Palette(("#0f2a2a", "#1b4745"), ("#d9b26f", "#6fa39a", "#e8dcc4"), "#081818", "#f5efe2", True),
        Palette(("#1d2533", "#33425a"), ("#e07a5f", "#f2cc8f", "#81b29a"), "#10151e", "#f4f1de", True),
    ),
    "science": (
        Palette(("#0d1a2b", "#1d3a58"), ("#f2a65a", "#7bc6cc", "#f6e27f"), "#070f19", "#e9f1f7", True),
        Palette(("#f1ede4", "#ddd4c3"), ("#2b4c7e", "#d1495b", "#edae49"), "#1f2a3a", "#fffdf8", False),
        Palette(("#0f2e2b", "#1f5049"), ("#f28f6b", "#a8dadc", "#f3d9a4"), "#071a18", "#f1faee", True),
    ),
    "health": (
        Palette(("#f5efe8", "#e6ddd0"), ("#7fa88b", "#e8a598", "#2f5d62"), "#24403f", "#fffaf4", False),
        Palette(("#e8f1ed", "#cfe2da"), ("#3e7c6f", "#f4a896", "#a7c4a0"), "#1e3b36", "#fbfdfc", False),
        Palette(("#1f3b3a", "#2f5f59"), ("#f6bd9c", "#9fd3c7", "#e9e4c9"), "#102322", "#fbf6ee", True),
    ),
    "culture": (
        Palette(("#2a1a2e", "#46284a"), ("#e0a458", "#c1666b", "#4b8f8c"), "#150d17", "#f1e3d3", True),
        Palette(("#f2e8d8", "#e3d2b8"), ("#b23a48", "#2e4057", "#e9a03b"), "#20232a", "#fbf5ea", False),
        Palette(("#102a43", "#20486b"), ("#f08a5d", "#f9d56e", "#b83b5e"), "#08182a", "#f6efe4", True),
    ),
    "sport": (
        Palette(("#1b4332", "#2d6a4f"), ("#c8553d", "#f4d35e", "#95d5b2"), "#0b2219", "#f4f1ea", True),
        Palette(("#0d1b2a", "#1f3350"), ("#e63946", "#ffb703", "#8ecae6"), "#060d16", "#f1faee", True),
        Palette(("#a8432f", "#c5634a"), ("#1d3557", "#f4a261", "#f2d7b6"), "#3b140c", "#fbf3ea", True),
    ),
}

FALLBACK_PALETTES = (Palette(("#22262e", "#3a404c"), ("#c9a66b", "#8aa1b1", "#d98c73"), "#111318", "#f2eee8", True),)


# Tag words that make a motif more likely (see `_pick_motif`), space-separated.
MOTIF_KEYWORDS: dict[str, dict[str, str]] = {
    "technology": {
        "chip": "chips chip semiconductors hardware computing processors quantum",
        "network": "ai networks internet data cloud software security social",
        "bus": "energy batteries grid robotics devices telecoms storage",
        "hub": "startups apps smartphones privacy platforms regulation space",
    },
    "business": {
        "chart": "markets stocks finance economy inflation banking rates trade",
        "skyline": "cities property housing real estate retail offices urban",
        "bars": "jobs labour wages startups manufacturing exports earnings",
    },
    "science": {
        "orbits": "space astronomy comets planets solar satellites telescopes moon mars asteroids stars galaxies",
        "molecule": "chemistry genetics dna proteins molecules materials physics quantum drugs cells microbes",
        "contours": "climate geology ocean oceans sea deep earth glaciers volcanoes seamounts sediment marine ice",
    },
    "health": {
        "pulse": "heart cardiology fitness exercise hospitals stroke blood ageing care running injuries nurses",
        "rest": "sleep rest circadian insomnia mental stress anxiety apnoea shift fatigue night",
        "leaves": "nutrition food diet plants gut microbiome wellbeing nature allergies air herbal",
        "cells": "vaccines cancer immunology virus infection antibiotic bacteria resistance phage diagnosis",
    },
    "culture": {
        "stage": "theatre film cinema opera dance music festival comedy performance concerts",
        "papercut": "art painting design exhibition museums craft books literature photography fashion",
        "arcs": "architecture heritage history television media games poetry radio language",
    },
    "sport": {
        "track": "athletics running marathon track sprint olympics cycling swimming rowing records",
        "pitch": "football soccer rugby hockey league cup transfers clubs",
        "ball": "tennis cricket baseball golf basketball netball volleyball",
    },
}


def seed_for(slug: str) -> int:
    """Return a stable 64-bit seed derived from ``slug`` (never the builtin ``hash``)."""
    digest = hashlib.sha256(slug.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


# ------------------------------------------------------------------ svg helpers


def _n(value: float) -> str:
    """Format a coordinate compactly with at most one decimal."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _el(tag: str, content: str = "", /, **attrs: float | str | None) -> str:
    """Build one SVG element; ``fill_opacity`` becomes ``fill-opacity`` and so on."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = _n(value) if isinstance(value, float) else str(value)
        parts.append(f'{name}="{text}"')
    head = " ".join(parts)
    return f"<{head}>{content}</{tag}>" if content else f"<{head}/>"


def _circle(cx: float, cy: float, r: float, **attrs: float | str | None) -> str:
    return _el("circle", cx=cx, cy=cy, r=r, **attrs)


def _path(d: str, **attrs: float | str | None) -> str:
    return _el("path", d=d, **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, **attrs: float | str | None) -> str:
    return _el("line", x1=x1, y1=y1, x2=x2, y2=y2, **attrs)


def _ellipse(cx: float, cy: float, rx: float, ry: float, **attrs: float | str | None) -> str:
    return _el("ellipse", cx=cx, cy=cy, rx=rx, ry=ry, **attrs)


def _rect(x: float, y: float, width: float, height: float, **attrs: float | str | None) -> str:
    return _el("rect", x=x, y=y, width=width, height=height, **attrs)


def _polyline_d(points: Sequence[Point], closed: bool = False) -> str:
    head, *rest = points
    d = f"M{_n(head[0])},{_n(head[1])}" + "".join(f"L{_n(x)},{_n(y)}" for x, y in rest)
    return d + "Z" if closed else d


def _smooth_d(points: Sequence[Point], closed: bool = False, tension: float = 1.0) -> str:
    """A Catmull-Rom spline through ``points`` as cubic Bezier path data."""
    count = len(points)
    if count < 3:
        return _polyline_d(points, closed)

    def at(i: int) -> Point:
        if closed:
            return points[i % count]
        return points[min(max(i, 0), count - 1)]

    d = f"M{_n(points[0][0])},{_n(points[0][1])}"
    for i in range(count if closed else count - 1):
        p0, p1, p2, p3 = at(i - 1), at(i), at(i + 1), at(i + 2)
        c1 = (p1[0] + (p2[0] - p0[0]) * tension / 6, p1[1] + (p2[1] - p0[1]) * tension / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) * tension / 6, p2[1] - (p3[1] - p1[1]) * tension / 6)
        d += f"C{_n(c1[0])},{_n(c1[1])} {_n(c2[0])},{_n(c2[1])} {_n(p2[0])},{_n(p2[1])}"
    return d + "Z" if closed else d


def _blob_points(
    cx: float, cy: float, radius: float, harmonics: Sequence[tuple[int, float, float]], count: int = 14
) -> list[Point]:
    """Points of a closed organic outline: a circle perturbed by a few sine harmonics."""
    points = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        scale = 1 + sum(amp * math.sin(k * angle + phase) for k, amp, phase in harmonics)
        points.append((cx + radius * scale * math.cos(angle), cy + radius * scale * math.sin(angle)))
    return points


def _harmonics(rng: random.Random, wobble: float) -> list[tuple[int, float, float]]:
    return [(k, wobble * rng.uniform(0.4, 1.0) / k**0.5, rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5)]


def _mix(first: str, second: str, amount: float) -> str:
    """Blend two ``#rrggbb`` colours; ``amount`` 0 gives ``first``, 1 gives ``second``."""
    a = [int(first[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(second[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * amount):02x}" for x, y in zip(a, b, strict=True))


def _rotate(point: Point, angle: float, origin: Point = (0.0, 0.0)) -> Point:
    x, y = point[0] - origin[0], point[1] - origin[1]
    cos, sin = math.cos(angle), math.sin(angle)
    return (origin[0] + x * cos - y * sin, origin[1] + x * sin + y * cos)


class _Canvas:
    """Collects ``<defs>`` and body elements; ids are prefixed per cover."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.defs: list[str] = []
        self.body: list[str] = []

    def ref(self, name: str) -> str:
        return f"url(#{self.prefix}{name})"

    def add(self, *elements: str) -> None:
        self.body.extend(elements)

    def linear(
        self,
        name: str,
        stops: Sequence[tuple[float, str, float]],
        x1: float = 0.0,
        y1: float = 0.0,
        x2: float = 0.0,
        y2: float = 1.0,
        **attrs: float | str | None,
    ) -> str:
        content = "".join(_el("stop", offset=float(o), stop_color=c, stop_opacity=float(a)) for o, c, a in stops)
        self.defs.append(
            _el(
                "linearGradient",
                content,
                id=self.prefix + name,
                x1=float(x1),
                y1=float(y1),
                x2=float(x2),
                y2=float(y2),
                **attrs,
            )
        )
        return self.ref(name)

    def radial(
        self,
        name: str,
        stops: Sequence[tuple[float, str, float]],
        cx: float = 0.5,
        cy: float = 0.5,
        r: float = 0.5,
        **attrs: float | str | None,
    ) -> str:
        content = "".join(_el("stop", offset=float(o), stop_color=c, stop_opacity=float(a)) for o, c, a in stops)
        self.defs.append(
            _el("radialGradient", content, id=self.prefix + name, cx=float(cx), cy=float(cy), r=float(r), **attrs)
        )
        return self.ref(name)

    def define(self, name: str, tag: str, content: str, **attrs: float | str | None) -> str:
        self.defs.append(_el(tag, content, id=self.prefix + name, **attrs))
        return self.ref(name)

    def glow(self, name: str, blur: float) -> str:
        content = _el("feGaussianBlur", stdDeviation=float(blur), result="b") + _el(
            "feMerge", _el("feMergeNode", in_="b") + _el("feMergeNode", in_="SourceGraphic")
        )
        return self.define(name, "filter", content, x="-50%", y="-50%", width="200%", height="200%")

    def shadow(self, name: str, dx: float, dy: float, blur: float, opacity: float, spread: int = 30) -> str:
        """A soft drop shadow; ``spread`` (percent of the shape's box) must leave room for blur and offset."""
        content = (
            _el("feGaussianBlur", in_="SourceAlpha", stdDeviation=float(blur))
            + _el("feOffset", dx=float(dx), dy=float(dy), result="o")
            + _el("feComponentTransfer", _el("feFuncA", type="linear", slope=float(opacity)), result="s")
            + _el("feMerge", _el("feMergeNode", in_="s") + _el("feMergeNode", in_="SourceGraphic"))
        )
        box = {
            "x": f"-{spread}%",
            "y": f"-{spread}%",
            "width": f"{100 + 2 * spread}%",
            "height": f"{100 + 2 * spread}%",
        }
        return self.define(name, "filter", content, **box)

    def render(self) -> str:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {COVER_WIDTH} {COVER_HEIGHT}" '
            f'width="{COVER_WIDTH}" height="{COVER_HEIGHT}" preserveAspectRatio="xMidYMid slice">'
        )
        return "\n".join([head, "<defs>" + "".join(self.defs) + "</defs>", *self.body, "</svg>"]) + "\n"


# ------------------------------------------------------------------ shared layers


def _backdrop(c: _Canvas, rng: random.Random, p: Palette) -> Point:
    """Paint the background gradient and a soft light pool; return the focal point."""
    angle = rng.uniform(-0.6, 0.6)
    x2, y2 = 0.5 + 0.5 * math.sin(angle), 0.5 + 0.5 * math.cos(angle)
    bg = c.linear("bg", [(0, p.background[0], 1), (1, p.background[1], 1)], 1 - x2, 1 - y2, x2, y2)
    c.add(_rect(0.0, 0.0, W, H, fill=bg))
    focal = (W * rng.choice((0.33, 0.5, 0.67)) + rng.uniform(-60, 60), H * rng.uniform(0.38, 0.6))
    glow_colour = p.light if p.dark else p.accents[2]
    pool = c.radial("pool", [(0, glow_colour, 0.22 if p.dark else 0.3), (1, glow_colour, 0)])
    c.add(_ellipse(focal[0], focal[1], W * 0.55, H * 0.7, fill=pool))
    return focal


def _finish(c: _Canvas, p: Palette) -> None:
    """Add paper grain and a gentle vignette over the whole picture."""
    grain = _el(
        "feTurbulence", type="fractalNoise", baseFrequency="0.85", numOctaves="2", seed="7", stitchTiles="stitch"
    ) + _el("feColorMatrix", type="saturate", values="0")
    c.define("grain", "filter", grain, x="0", y="0", width="100%", height="100%")
    c.add(
        _rect(
            0.0,
            0.0,
            W,
            H,
            filter=c.ref("grain"),
            opacity=0.07 if p.dark else 0.09,
            style="mix-blend-mode:multiply" if not p.dark else None,
        )
    )
    vignette = c.radial("vig", [(0.55, p.ink, 0), (1, p.ink, 0.42 if p.dark else 0.16)], r=0.75)
    c.add(_rect(0.0, 0.0, W, H, fill=vignette))


def _pick_motif(rng: random.Random, tags: Sequence[str], keywords: dict[str, str]) -> str:
    """Draw a motif, each weighted by how many of its keywords the tags mention.

    Tags make a fitting motif likely rather than certain, so a run of articles with
    similar tags still gets some variety.
    """
    words = {word for tag in tags for word in re.split(r"[^a-z0-9]+", tag.lower()) if word}
    names = sorted(keywords)
    weights = [1 + 3 * len(words & set(keywords[name].split())) for name in names]
    return rng.choices(names, weights=weights)[0]


# ------------------------------------------------------------------- technology

_DIRS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))


def _trace_cells(
    rng: random.Random, start: tuple[int, int], direction: int, segments: int, first: int = 0
) -> list[tuple[int, int]]:
    """A printed-circuit route on the grid: straight runs joined by 45-degree bends."""
    x, y = start
    cells = [start]
    for index in range(segments):
        dx, dy = _DIRS[direction]
        length = rng.randint(1, 3) if direction % 2 else rng.randint(2, 6)
        if index == 0 and first:
            length = first
        x, y = x + dx * length, y + dy * length
        cells.append((x, y))
        direction = (direction + rng.choice((-1, 1))) % 8
    return cells


def _technology(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    step = 30.0
    cols, rows = int(W / step), int(H / step)
    dots = c.define(
        "dots",
        "pattern",
        _circle(step / 2, step / 2, 1.4, fill=p.light),
        width=step,
        height=step,
        patternUnits="userSpaceOnUse",
    )
    fade = c.radial("fade", [(0, "#fff", 1), (1, "#fff", 0)], cx=focal[0] / W, cy=focal[1] / H, r=0.7)
    c.define("fadem", "mask", _rect(0.0, 0.0, W, H, fill=fade))
    c.add(_rect(0.0, 0.0, W, H, fill=dots, opacity=0.22, mask=c.ref("fadem")))
    glow = c.glow("glow", 5)

    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["technology"])
    fx, fy = round(focal[0] / step), round(focal[1] / step)
    hub = (fx, fy)

    # A sparse field of unlit traces sets the scene behind every motif.
    field = [
        _trace_cells(
            rng, (rng.randint(-2, cols + 2), rng.randint(-2, rows + 2)), rng.randrange(0, 8, 2), rng.randint(2, 4)
        )
        for _ in range(rng.randint(14, 20))
    ]
    main: list[list[tuple[int, int]]] = []
    half = rng.randint(3, 5)
    if motif == "chip":
        for side in range(4):
            ox, oy = _DIRS[side * 2]
            for k in range(-half + 1, half):
                if rng.random() < 0.15:
                    continue
                start = (fx + ox * half - oy * k, fy + oy * half + ox * k)
                main.append(_trace_cells(rng, start, side * 2, rng.randint(2, 3), first=rng.randint(1, 4)))
    elif motif == "bus":
        for _ in range(rng.randint(2, 3)):
            direction = rng.choice((0, 4, 2, 6))
            dx, dy = _DIRS[direction]
            sx = fx + rng.randint(-14, 14) - dx * 12
            sy = fy + rng.randint(-6, 6) - dy * 8
            # Jog only diagonally so that parallel lines never fold onto each other.
            template, x, y = [(0, 0)], 0, 0
            for index in range(rng.randint(3, 6)):
                jx, jy = _DIRS[(direction + rng.choice((-1, 1))) % 8 if index % 2 else direction]
                length = rng.randint(1, 3) if index % 2 else rng.randint(3, 8)
                x, y = x + jx * length, y + jy * length
                template.append((x, y))
            lanes = rng.randint(5, 9)
            for k in range(lanes):
                main.append([(sx - dy * k + x, sy + dx * k + y) for x, y in template])
            hub = main[-1 - lanes // 2][-1]
    elif motif == "hub":
        for k in range(rng.randint(12, 18)):
            direction = k % 8
            dx, dy = _DIRS[direction]
            start = (fx + dx * 2, fy + dy * 2)
            main.append(_trace_cells(rng, start, direction, rng.randint(2, 4), first=rng.randint(2, 6)))

    lit = set(rng.sample(range(len(main)), k=min(len(main), max(4, len(tags) + 3)))) if main else set()
    dim: list[str] = []
    bright: list[str] = []
    pads: list[str] = []
    for i, cells in enumerate(field + main):
        is_lit = i - len(field) in lit
        points = [(x * step, y * step) for x, y in cells]
        colour = rng.choice(p.accents[:2]) if is_lit else rng.choice(p.accents)
        (bright if is_lit else dim).append(_path(_polyline_d(points), stroke=colour))
        ex, ey = points[-1]
        pads.append(
            _circle(
                ex,
                ey,
                6.0 if is_lit else 4.5,
                stroke=colour if is_lit else p.light,
                stroke_opacity=0.9 if is_lit else 0.35,
            )
        )
    line = {"fill": "none", "stroke_linejoin": "round", "stroke_linecap": "round"}
    c.add(_el("g", "".join(dim[: len(field)]), stroke_width=2.0, stroke_opacity=0.22, **line))
    c.add(_el("g", "".join(dim[len(field) :]), stroke_width=3.0, stroke_opacity=0.5, **line))
    c.add(_el("g", "".join(bright), stroke_width=3.5, filter=glow, **line))
    c.add(_el("g", "".join(pads), fill=p.background[0], stroke_width=2.0))

    if motif == "chip":
        size = (half - 0.5) * 2 * step
        x0, y0 = fx * step - size / 2, fy * step - size / 2
        body = c.linear("chip", [(0, _mix(p.background[1], p.light, 0.12), 1), (1, p.ink, 1)])
        c.add(_rect(x0 + 8, y0 + 14, size, size, rx=16.0, fill=p.ink, opacity=0.5))
        c.add(_rect(x0, y0, size, size, rx=16.0, fill=body, stroke=p.accents[0], stroke_width=2.5, filter=glow))
        inset = size * 0.2
        c.add(
            _rect(
                x0 + inset,
                y0 + inset,
                size - 2 * inset,
                size - 2 * inset,
                rx=8.0,
                fill="none",
                stroke=p.light,
                stroke_opacity=0.3,
                stroke_width=1.5,
            )
        )
        core = c.radial("core", [(0, p.accents[2], 0.95), (1, p.accents[2], 0)])
        c.add(_circle(fx * step, fy * step, size * 0.32, fill=core))
    elif motif == "network":
        nodes = [(rng.uniform(60, W - 60), rng.uniform(60, H - 60)) for _ in range(rng.randint(16, 22))]
        nodes.append(focal)
        edges: set[tuple[int, int]] = set()
        for i, a in enumerate(nodes):
            nearest = sorted((math.dist(a, b), j) for j, b in enumerate(nodes))[1:4]
            edges.update((min(i, j), max(i, j)) for _, j in nearest)
        c.add(
            _el(
                "g",
                "".join(_line(nodes[i][0], nodes[i][1], nodes[j][0], nodes[j][1]) for i, j in sorted(edges)),
                stroke=p.accents[1],
                stroke_width=1.5,
                stroke_opacity=0.5,
            )
        )
        halo = c.radial("halo", [(0, p.accents[2], 0.8), (1, p.accents[2], 0)])
        for i, (nx, ny) in enumerate(nodes):
            big = i == len(nodes) - 1 or rng.random() < 0.2
            if big:
                c.add(_circle(nx, ny, rng.uniform(30, 50) * (1.6 if i == len(nodes) - 1 else 1), fill=halo))
            c.add(_circle(nx, ny, 7.0 if big else 4.0, fill=p.light if big else p.accents[0]))
    else:
        halo = c.radial("halo", [(0, p.accents[2], 0.75), (1, p.accents[2], 0)])
        cx, cy = hub[0] * step, hub[1] * step
        c.add(_circle(cx, cy, 130.0, fill=halo))
        c.add(
            _circle(
                cx,
                cy,
                2.1 * step,
                fill="none",
                stroke=p.light,
                stroke_opacity=0.35,
                stroke_width=1.5,
                stroke_dasharray="3 9",
            )
        )
        c.add(_circle(cx, cy, 12.0, fill=p.light, filter=glow))


# --------------------------------------------------------------------- business


def _walk(rng: random.Random, count: int, start: float, drift: float, spread: float) -> list[float]:
    values = [start]
    for _ in range(count - 1):
        values.append(values[-1] + drift + rng.gauss(0, spread))
    return values


def _fit(values: Sequence[float], top: float, bottom: float) -> list[float]:
    """Stretch a series so that its highest point (smallest y) lands on ``top``, its lowest on ``bottom``."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return [top + (v - low) / span * (bottom - top) for v in values]


def _business(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["business"])
    ground = H * rng.uniform(0.82, 0.88)
    rising = rng.random() < 0.8
    drift = -H * 0.03 if rising else H * 0.02

    # Faint ledger lines behind everything.
    rules = "".join(_line(0.0, y, W, y) for y in [ground - k * 70.0 for k in range(1, 9)])
    c.add(_el("g", rules, stroke=p.ink if not p.dark else p.light, stroke_opacity=0.09, stroke_width=1.0))

    if motif == "skyline":
        # Three depths of buildings; distance is suggested by fading into the sky.
        depths = (_mix(p.accents[1], p.background[0], 0.6), _mix(p.accents[2], p.background[0], 0.35), p.accents[0])
        for layer, colour in enumerate(depths):
            x = -rng.uniform(0, 40)
            shapes = []
            while x < W:
                width = rng.uniform(50, 120) * (1 - 0.15 * layer)
                height = rng.uniform(0.25, 0.62) * H * (1 - 0.22 * layer)
                top = ground - height
                shapes.append((x, top, width))
                x += width + rng.uniform(-4, 10)
            d = "".join(
                f"M{_n(x)},{_n(ground)}V{_n(t)}H{_n(x + w)}V{_n(ground)}Z"
                + (f"M{_n(x + w * 0.45)},{_n(t)}v-{_n(rng.uniform(20, 60))}h4V{_n(t)}Z" if rng.random() < 0.15 else "")
                for x, t, w in shapes
            )
            c.add(_path(d, fill=colour))
            if layer == 2:
                win = c.define(
                    "win",
                    "pattern",
                    _rect(5.0, 6.0, 7.0, 10.0, fill=p.light),
                    width=18.0,
                    height=22.0,
                    patternUnits="userSpaceOnUse",
                )
                c.add(_path(d, fill=win, opacity=0.28))
        c.add(_rect(0.0, ground, W, H - ground, fill=p.ink, fill_opacity=0.85))
    else:
        count = rng.randint(10, 14)
        xs = [W * i / (count - 1) for i in range(count)]
        depths = (_mix(p.accents[2], p.background[0], 0.45), _mix(p.accents[1], p.background[0], 0.2), p.accents[0])
        for layer, colour in enumerate(depths):
            top = H * (0.14 + 0.16 * layer + rng.uniform(0, 0.06))
            ys = _fit(_walk(rng, count, 0.0, drift, H * 0.04), top, top + H * rng.uniform(0.14, 0.24))
            fill = c.linear(f"area{layer}", [(0, colour, 1), (1, _mix(colour, p.ink, 0.25), 1)])
            if motif == "bars" and layer == 2:
                bar_w = W / count * 0.56
                d = "".join(
                    f"M{_n(x - bar_w / 2)},{_n(ground)}V{_n(y)}h{_n(bar_w)}V{_n(ground)}Z"
                    for x, y in zip(xs, ys, strict=True)
                )
                c.add(_path(d, fill=fill))
            else:
                d = _smooth_d(list(zip(xs, ys, strict=True))) + f"L{_n(W)},{_n(ground)}L0,{_n(ground)}Z"
                c.add(_path(d, fill=fill))
        c.add(_rect(0.0, ground, W, H - ground, fill=p.ink, fill_opacity=0.9))

    # The trend line: a crisp polyline with a highlighted last point.
    count = rng.randint(7, 11)
    xs = [W * 0.06 + (W * 0.84) * i / (count - 1) for i in range(count)]
    top = H * rng.uniform(0.1, 0.2)
    ys = _fit(_walk(rng, count, 0.0, drift, H * 0.035), top, top + H * rng.uniform(0.25, 0.4))
    line = list(zip(xs, ys, strict=True))
    stroke = p.light if p.dark else p.ink
    c.add(
        _path(
            _polyline_d(line),
            fill="none",
            stroke=p.ink,
            stroke_opacity=0.25,
            stroke_width=9.0,
            stroke_linejoin="round",
            transform="translate(0 6)",
        )
    )
    c.add(_path(_polyline_d(line), fill="none", stroke=stroke, stroke_width=4.0, stroke_linejoin="round"))
    c.add(_el("g", "".join(_circle(x, y, 5.0) for x, y in line[:-1]), fill=stroke))
    lx, ly = line[-1]
    c.add(
        _circle(lx, ly, 22.0, fill=p.accents[1], fill_opacity=0.3),
        _circle(lx, ly, 10.0, fill=p.accents[1], stroke=stroke, stroke_width=3.0),
    )


# ---------------------------------------------------------------------- science


def _sphere(c: _Canvas, name: str, colour: str, p: Palette) -> str:
    return c.radial(name, [(0, p.light, 1), (0.35, colour, 1), (1, p.ink, 1)], cx=0.35, cy=0.32, r=0.75)


def _stars(c: _Canvas, rng: random.Random, p: Palette, count: int) -> None:
    dots = "".join(
        _circle(
            rng.uniform(0, W), rng.uniform(0, H), rng.choice((0.8, 1.1, 1.5, 2.2)), opacity=rng.choice((0.3, 0.5, 0.8))
        )
        for _ in range(count)
    )
    c.add(_el("g", dots, fill=p.light))


def _science(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["science"])
    line_colour = p.light if p.dark else p.ink
    if motif == "orbits":
        if p.dark:
            _stars(c, rng, p, rng.randint(70, 110))
        cx, cy = focal
        tilt = rng.uniform(-0.45, 0.45)
        flat = rng.uniform(0.28, 0.42)
        sun_r = rng.uniform(45, 75)
        corona = c.radial("corona", [(0, p.accents[2], 0.55), (1, p.accents[2], 0)])
        c.add(_circle(cx, cy, sun_r * 3.2, fill=corona))
        rings = rng.randint(4, 6)
        rotate = f"rotate({_n(math.degrees(tilt))} {_n(cx)} {_n(cy)})"
        planets = []
        for i in range(rings):
            rx = sun_r * 1.9 + i * rng.uniform(70, 95)
            dash = "6 10" if rng.random() < 0.3 else None
            c.add(
                _ellipse(
                    cx,
                    cy,
                    rx,
                    rx * flat,
                    fill="none",
                    stroke=line_colour,
                    stroke_opacity=0.45 - 0.04 * i,
                    stroke_width=1.6,
                    stroke_dasharray=dash,
                    transform=rotate,
                )
            )
            t = rng.uniform(0, 2 * math.pi)
            px, py = _rotate((rx * math.cos(t), rx * flat * math.sin(t)), tilt)
            planets.append((cx + px, cy + py, rng.uniform(6, 17), i % 3))
        c.add(_circle(cx, cy, sun_r, fill=_sphere(c, "sun", p.accents[0], p)))
        for i, (x, y, r, colour) in enumerate(planets):
            fill = _sphere(c, f"pl{i}", p.accents[colour], p)
            c.add(_circle(x, y, r, fill=fill))
            if r > 13 and rng.random() < 0.6:
                c.add(
                    _ellipse(
                        x,
                        y,
                        r * 1.9,
                        r * 0.5,
                        fill="none",
                        stroke=p.light,
                        stroke_opacity=0.7,
                        stroke_width=2.0,
                        transform=f"rotate(-18 {_n(x)} {_n(y)})",
                    )
                )
        # A comet streaks across the frame.
        hx, hy = rng.uniform(W * 0.1, W * 0.9), rng.uniform(H * 0.1, H * 0.35)
        angle = rng.uniform(2.4, 3.0) if hx > W / 2 else rng.uniform(0.15, 0.7)
        tail = 260.0
        tx, ty = hx + tail * math.cos(angle), hy - tail * math.sin(angle)
        streak = c.linear("tail", [(0, p.light, 0), (1, p.light, 0.9)], tx, ty, hx, hy, gradientUnits="userSpaceOnUse")
        c.add(
            _path(f"M{_n(tx)},{_n(ty)}L{_n(hx)},{_n(hy)}", stroke=streak, stroke_width=3.0, stroke_linecap="round"),
            _circle(hx, hy, 4.0, fill=p.light),
        )
        return

    if motif == "contours":
        peaks = [focal, (rng.uniform(0, W), rng.choice((rng.uniform(-60, 80), rng.uniform(H - 80, H + 60))))]
        for index, (px, py) in enumerate(peaks):
            harmonics = _harmonics(rng, 0.16)
            levels = rng.randint(9, 12) if index == 0 else rng.randint(5, 7)
            outer = rng.uniform(360, 460) if index == 0 else rng.uniform(180, 260)
            paths = []
            for level in range(levels):
                r = outer * (level + 1) / levels
                scaled = [(k, a * (0.6 + 0.4 * level / levels), ph) for k, a, ph in harmonics]
                paths.append(_smooth_d(_blob_points(px, py, r, scaled, 18), closed=True))
            fill_level = rng.randint(1, 3)
            c.add(_path(paths[fill_level], fill=p.accents[0], fill_opacity=0.22))
            c.add(_path(paths[0], fill=p.accents[2], fill_opacity=0.5))
            c.add(
                _el(
                    "g",
                    "".join(_path(d, stroke_width=2.2 if i % 4 == 3 else 1.2) for i, d in enumerate(paths)),
                    fill="none",
                    stroke=line_colour,
                    stroke_opacity=0.5,
                )
            )
        # A survey transect with sampling stations.
        y0 = rng.uniform(H * 0.25, H * 0.75)
        stations = [(x, y0 + rng.uniform(-70, 70)) for x in (W * 0.08, W * 0.36, W * 0.64, W * 0.92)]
        c.add(_path(_polyline_d(stations), fill="none", stroke=p.accents[1], stroke_width=2.5, stroke_dasharray="10 8"))
        for x, y in stations:
            c.add(_circle(x, y, 9.0, fill=p.accents[1], stroke=p.light, stroke_width=3.0))
        return

    # Molecule: a ball-and-stick model grown on a hexagonal lattice.
    hexes = c.define(
        "hex",
        "pattern",
        _path(
            "M0,0L26,15V45L0,60L-26,45V15ZM26,45L52,60",
            fill="none",
            stroke=line_colour,
            stroke_width=1.0,
            transform="translate(26 0)",
        ),
        width=52.0,
        height=90.0,
        patternUnits="userSpaceOnUse",
    )
    c.add(_rect(0.0, 0.0, W, H, fill=hexes, opacity=0.12))
    bond = rng.uniform(78, 96)
    base = rng.uniform(0, math.pi / 3)
    atoms: list[Point] = [_rotate((bond, 0.0), base + k * math.pi / 3, (0.0, 0.0)) for k in range(6)]
    atoms = [(focal[0] + x, focal[1] + y) for x, y in atoms]
    bonds = [(k, (k + 1) % 6) for k in range(6)]
    target = rng.randint(11, 16)
    attempts = 0
    while len(atoms) < target and attempts < 400:
        attempts += 1
        parent = rng.randrange(len(atoms))
        angle = base + rng.randrange(6) * math.pi / 3 + math.pi / 6 * (parent < 6)
        x, y = atoms[parent]
        candidate = (x + bond * math.cos(angle), y + bond * math.sin(angle))
        if not (70 < candidate[0] < W - 70 and 70 < candidate[1] < H - 70):
            continue
        if min(math.dist(candidate, a) for a in atoms) < bond * 0.9:
            continue
        atoms.append(candidate)
        bonds.append((parent, len(atoms) - 1))
    for i, j in bonds:
        (x1, y1), (x2, y2) = atoms[i], atoms[j]
        if rng.random() < 0.25:
            nx, ny = (y2 - y1) / bond * 6, -(x2 - x1) / bond * 6
            for s in (-1, 1):
                c.add(
                    _line(
                        x1 + nx * s,
                        y1 + ny * s,
                        x2 + nx * s,
                        y2 + ny * s,
                        stroke=line_colour,
                        stroke_width=4.0,
                        stroke_opacity=0.8,
                    )
                )
        else:
            c.add(
                _line(x1, y1, x2, y2, stroke=line_colour, stroke_width=7.0, stroke_opacity=0.8, stroke_linecap="round")
            )
    fills = [_sphere(c, f"atom{k}", p.accents[k], p) for k in range(3)]
    shade = c.radial("atomshadow", [(0, p.ink, 0.45), (1, p.ink, 0)])
    for x, y in atoms:
        kind = rng.choices((0, 1, 2), weights=(5, 2, 2))[0]
        r = (26.0, 18.0, 14.0)[kind] * rng.uniform(0.9, 1.1)
        c.add(_circle(x + 6, y + 9, r * 1.3, fill=shade))
        c.add(_circle(x, y, r, fill=fills[kind]))


# ----------------------------------------------------------------------- health


def _leaf(length: float, width: float) -> str:
    blade = f"M0,0Q{_n(length * 0.45)},{_n(-width)} {_n(length)},0Q{_n(length * 0.55)},{_n(width)} 0,0Z"
    return blade


# One beat of an electrocardiogram: (x offset, height as a share of the R peak).
_HEARTBEAT = (
    (40, 0.0),
    (55, 0.09),
    (70, 0.0),
    (95, 0.0),
    (104, -0.1),
    (120, 1.0),
    (136, -0.35),
    (146, 0.0),
    (175, 0.0),
    (195, 0.17),
    (215, 0.0),
)


def _health(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["health"])
    # Soft organic blobs make the ground of every health cover.
    for i in range(rng.randint(4, 6)):
        cx = rng.uniform(-0.05, 1.05) * W
        cy = rng.uniform(-0.1, 1.1) * H
        r = rng.uniform(150, 300)
        colour = p.accents[i % 3]
        fill = c.radial(f"blob{i}", [(0, colour, 0.85), (1, colour, 0.45)], cx=0.4, cy=0.35, r=0.8)
        c.add(
            _path(
                _smooth_d(_blob_points(cx, cy, r, _harmonics(rng, 0.12)), closed=True),
                fill=fill,
                opacity=0.55 if i < 2 else 0.7,
            )
        )

    if motif == "cells":
        # Cells under the microscope: a membrane, a nucleus and a few organelles each.
        body = c.radial("cell", [(0, p.light, 0.35), (0.8, p.light, 0.55), (1, p.light, 0.9)])
        for _ in range(rng.randint(9, 14)):
            x, y = rng.uniform(40, W - 40), rng.uniform(40, H - 40)
            r = rng.uniform(18, 60)
            outline = _smooth_d(_blob_points(x, y, r, _harmonics(rng, 0.07), 10), closed=True)
            c.add(_path(outline, fill=body, stroke=p.accents[2], stroke_width=1.5, stroke_opacity=0.5))
            nx, ny = x + r * rng.uniform(-0.25, 0.25), y + r * rng.uniform(-0.25, 0.25)
            c.add(
                _circle(
                    nx,
                    ny,
                    r * 0.3,
                    fill=p.accents[2],
                    fill_opacity=0.45,
                    stroke=p.accents[2],
                    stroke_opacity=0.7,
                    stroke_width=1.2,
                )
            )
            dots = "".join(
                _circle(x + r * 0.6 * math.cos(a), y + r * 0.6 * math.sin(a), r * 0.06)
                for a in (rng.uniform(0, 2 * math.pi) for _ in range(3))
            )
            c.add(_el("g", dots, fill=p.accents[1], fill_opacity=0.8))
    elif motif == "leaves":
        for sprig in range(rng.randint(2, 3)):
            bx = rng.uniform(0.1, 0.9) * W if sprig else focal[0]
            by = H + 20
            tx, ty = bx + rng.uniform(-260, 260), rng.uniform(0.08, 0.35) * H
            mx, my = (bx + tx) / 2 + rng.uniform(-140, 140), (by + ty) / 2
            colour = p.accents[2] if sprig == 0 else p.accents[0]
            c.add(
                _path(
                    f"M{_n(bx)},{_n(by)}Q{_n(mx)},{_n(my)} {_n(tx)},{_n(ty)}",
                    fill="none",
                    stroke=colour,
                    stroke_width=5.0,
                    stroke_linecap="round",
                )
            )
            count = rng.randint(5, 8)
            for k in range(count):
                t = 0.25 + 0.75 * k / count
                x = (1 - t) ** 2 * bx + 2 * (1 - t) * t * mx + t**2 * tx
                y = (1 - t) ** 2 * by + 2 * (1 - t) * t * my + t**2 * ty
                gx = 2 * (1 - t) * (mx - bx) + 2 * t * (tx - mx)
                gy = 2 * (1 - t) * (my - by) + 2 * t * (ty - my)
                heading = math.degrees(math.atan2(gy, gx)) + (50 if k % 2 else -50)
                length = rng.uniform(90, 150) * (1.1 - 0.4 * t)
                c.add(
                    _el(
                        "g",
                        _path(_leaf(length, length * 0.32), fill=colour, fill_opacity=0.92)
                        + _path(f"M4,0L{_n(length * 0.85)},0", stroke=p.light, stroke_width=2.0, stroke_opacity=0.6),
                        transform=f"translate({_n(x)} {_n(y)}) rotate({_n(heading)})",
                    )
                )

    elif motif == "rest":
        moon = p.light if p.dark else _mix(p.ink, p.accents[0], 0.35)
        mx, my, mr = focal[0], focal[1] - rng.uniform(40, 90), rng.uniform(85, 120)
        halo = c.radial("moonglow", [(0, moon, 0.35), (1, moon, 0)])
        c.add(_circle(mx, my, mr * 2.6, fill=halo))
        c.define(
            "crescent",
            "mask",
            _circle(mx, my, mr, fill="#fff") + _circle(mx + mr * 0.45, my - mr * 0.3, mr * 0.88, fill="#000"),
        )
        c.add(_circle(mx, my, mr, fill=moon, mask=c.ref("crescent")))
        sparkles = []
        for _ in range(rng.randint(6, 10)):
            x, y, r = rng.uniform(0.05, 0.95) * W, rng.uniform(0.05, 0.5) * H, rng.uniform(6, 14)
            sparkles.append(
                f"M{_n(x)},{_n(y - r)}Q{_n(x)},{_n(y)} {_n(x + r)},{_n(y)}Q{_n(x)},{_n(y)} {_n(x)},"
                f"{_n(y + r)}Q{_n(x)},{_n(y)} {_n(x - r)},{_n(y)}Q{_n(x)},{_n(y)} {_n(x)},{_n(y - r)}Z"
            )
        c.add(_path("".join(sparkles), fill=moon, fill_opacity=0.8))
        # Slow breathing waves along the bottom of the frame.
        for k in range(4):
            base = H * (0.68 + 0.08 * k)
            phase, amp = rng.uniform(0, 2 * math.pi), rng.uniform(12, 26)
            wave = [(x, base + amp * math.sin(x / 180 + phase)) for x in range(-60, int(W) + 120, 60)]
            c.add(
                _path(
                    _smooth_d(wave) + f"L{_n(W + 60)},{_n(H + 10)}L-60,{_n(H + 10)}Z",
                    fill=p.accents[k % 2],
                    fill_opacity=0.35 + 0.12 * k,
                )
            )
    if motif == "rest" or (motif != "pulse" and rng.random() < 0.6):
        return

    # The pulse line: bold on its own motif, a quiet thread elsewhere; its beat sits near the focal point.
    y0 = focal[1] + rng.uniform(-40, 60)
    beat = rng.uniform(300, 380)
    points: list[Point] = [(-20.0, y0)]
    x = focal[0] - beat * round(focal[0] / beat) - beat * 0.2
    amp = rng.uniform(120, 170)
    while x < W + beat:
        points += [(x + dx, y0 - amp * rise) for dx, rise in _HEARTBEAT]
        points.append((x + beat, y0))
        x += beat
    stroke = p.ink if not p.dark else p.light
    d = _polyline_d(points)
    c.add(
        _path(
            d,
            fill="none",
            stroke=p.light if not p.dark else p.accents[1],
            stroke_opacity=0.5,
            stroke_width=14.0,
            stroke_linejoin="round",
            stroke_linecap="round",
        )
    )
    c.add(
        _path(
            d,
            fill="none",
            stroke=stroke,
            stroke_width=4.5 if motif == "pulse" else 3.0,
            stroke_linejoin="round",
            stroke_linecap="round",
            stroke_opacity=1.0 if motif == "pulse" else 0.75,
        )
    )


# ---------------------------------------------------------------------- culture


def _culture(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["culture"])
    shadow = c.shadow("drop", 6, 10, 9, 0.35)
    small_shadow = c.shadow("dropsm", 6, 10, 9, 0.35, spread=150)  # leaves and dots are small next to the blur
    colours = [*p.accents, p.light]
    if motif == "stage":
        floor = H * rng.uniform(0.74, 0.8)
        beam = c.linear("beam", [(0, p.light, 0.5), (1, p.light, 0.05)])
        sx = focal[0]
        for _ in range(rng.randint(1, 2)):
            top = sx + rng.uniform(-260, 260)
            c.add(
                _path(
                    f"M{_n(top - 35)},-10L{_n(top + 35)},-10L{_n(sx + 230)},{_n(floor)}L{_n(sx - 230)},{_n(floor)}Z",
                    fill=beam,
                )
            )
        c.add(_rect(0.0, floor, W, H - floor, fill=p.ink, fill_opacity=0.85))
        pool = c.radial("spot", [(0, p.light, 0.7), (1, p.light, 0)])
        c.add(_ellipse(sx, floor + 30, 260.0, 38.0, fill=pool))
        # A few cut-out props on stage, catching the light.
        tints = [p.accents[0], p.accents[2], p.light]
        rng.shuffle(tints)
        props = rng.randrange(3)
        if props == 0:  # a sun rising over a dome
            dome = rng.uniform(95, 150)
            c.add(
                _circle(
                    sx + rng.uniform(-70, 70),
                    floor - dome - rng.uniform(10, 50),
                    rng.uniform(45, 80),
                    fill=tints[0],
                    filter=shadow,
                )
            )
            c.add(
                _path(
                    f"M{_n(sx - dome)},{_n(floor)}A{_n(dome)},{_n(dome)} 0 0 1 {_n(sx + dome)},{_n(floor)}Z",
                    fill=tints[1],
                    filter=shadow,
                )
            )
        elif props == 1:  # a row of rounded flats, like organ pipes
            count = rng.randint(3, 5)
            for k in range(count):
                x, h = sx + (k - (count - 1) / 2) * 90, rng.uniform(150, 300)
                c.add(
                    _path(
                        f"M{_n(x - 38)},{_n(floor)}V{_n(floor - h + 38)}A38,38 0 0 1 {_n(x + 38)},"
                        f"{_n(floor - h + 38)}V{_n(floor)}Z",
                        fill=tints[k % 3],
                        filter=shadow,
                    )
                )
        else:  # two overlapping discs, a duet
            r = rng.uniform(100, 150)
            side = rng.choice((-1, 1))
            c.add(_circle(sx, floor - r, r, fill=tints[0], filter=shadow))
            c.add(_circle(sx + side * r * 0.5, floor - r * 0.55, r * 0.55, fill=tints[1], filter=shadow))
        # Curtains with folds from a repeating gradient.
        fold = rng.uniform(0.05, 0.1)
        folds = c.linear(
            "folds",
            [(0, p.accents[1], 1), (0.5, p.ink, 0.9), (1, p.accents[1], 1)],
            0,
            0,
            fold,
            0,
            spreadMethod="reflect",
        )
        for side in (-1, 1):
            edge = 0.0 if side < 0 else W
            inner = W * rng.uniform(0.16, 0.28)
            x_in = edge - side * inner
            tie = H * rng.uniform(0.42, 0.66)
            x_tie = edge - side * inner * 0.45
            d = (
                f"M{_n(edge)},-5L{_n(x_in)},-5Q{_n(x_in)},{_n(tie * 0.7)} {_n(x_tie)},{_n(tie)}"
                f"Q{_n(x_tie + side * 40)},{_n(tie + 120)} {_n(x_tie + side * 30)},{_n(H + 5)}L{_n(edge)},{_n(H + 5)}Z"
            )
            c.add(_path(d, fill=folds, filter=shadow))
        swags = rng.randint(5, 7)
        span, drop = W / (swags - 1), rng.uniform(110, 160)
        swag = "".join(
            f"M{_n(k * span - span / 2)},0Q{_n(k * span)},{_n(drop)} {_n(k * span + span / 2)},0Z" for k in range(swags)
        )
        c.add(_path(swag, fill=p.accents[1], filter=shadow))
        c.add(_rect(0.0, 0.0, W, 26.0, fill=p.ink, fill_opacity=0.9))
        if rng.random() < 0.5:
            # The front row of the audience in silhouette.
            gap = rng.uniform(85, 110)
            x = -rng.uniform(0, gap)
            heads = []
            while x < W + gap:
                r = rng.uniform(24, 32)
                y = H - rng.uniform(48, 62)
                heads.append(_circle(x, y - r * 0.9, r) + _rect(x - r * 1.7, y + r * 0.4, r * 3.4, H, rx=r * 1.2))
                x += gap
            c.add(_el("g", "".join(heads), fill=p.ink))
        return

    if motif == "arcs":
        base = H * rng.uniform(0.78, 0.92)
        c.add(_rect(0.0, base, W, H - base, fill=p.ink, fill_opacity=0.5))
        sun = rng.uniform(0.15, 0.85) * W
        c.add(_circle(sun, base - rng.uniform(280, 400), rng.uniform(40, 90), fill=p.accents[1]))
        groups = rng.randint(1, 3)
        spacing = rng.uniform(300, 420)
        offset = rng.randrange(len(colours))
        for group in range(groups):
            cx = focal[0] + (group - (groups - 1) / 2) * spacing
            outer = rng.uniform(200, 300) if groups > 1 else rng.uniform(320, 420)
            bands = rng.randint(4, 7)
            band = outer / (bands + 1)
            arcs = []
            for k in range(bands):
                r = outer - k * band
                colour = colours[(k + group + offset) % len(colours)]
                arcs.append(
                    _path(f"M{_n(cx - r)},{_n(base)}A{_n(r)},{_n(r)} 0 0 1 {_n(cx + r)},{_n(base)}Z", fill=colour)
                )
            c.add(_el("g", "".join(arcs), filter=shadow))
        return

    # Paper-cut: layered flat shapes with soft drop shadows, like a cut-paper collage.
    big = rng.uniform(200, 300)
    c.add(_circle(focal[0] + rng.uniform(-80, 80), focal[1] - 30, big, fill=p.accents[1], filter=shadow))
    ax = focal[0] + rng.choice((-1, 1)) * rng.uniform(150, 280)
    form = rng.randrange(3)
    if form == 0:  # an arch, like a doorway or a gallery niche
        arch_w, arch_h = rng.uniform(200, 260), rng.uniform(380, 470)
        c.add(
            _path(
                f"M{_n(ax - arch_w / 2)},{_n(H + 10)}V{_n(H - arch_h + arch_w / 2)}"
                f"A{_n(arch_w / 2)},{_n(arch_w / 2)} 0 0 1 {_n(ax + arch_w / 2)},{_n(H - arch_h + arch_w / 2)}"
                f"V{_n(H + 10)}Z",
                fill=p.accents[0],
                filter=shadow,
            )
        )
    elif form == 1:  # stacked half-discs
        for k, colour in enumerate((p.accents[0], p.light, p.accents[2])):
            r, y = 150 - 25 * k, H * 0.95 - 115 * k
            c.add(
                _path(f"M{_n(ax - r)},{_n(y)}A{_n(r)},{_n(r)} 0 0 1 {_n(ax + r)},{_n(y)}Z", fill=colour, filter=shadow)
            )
    else:  # a tilted card
        w, h = rng.uniform(220, 280), rng.uniform(300, 380)
        c.add(
            _rect(
                ax - w / 2,
                H * 0.35,
                w,
                h,
                fill=p.accents[0],
                filter=shadow,
                transform=f"rotate({_n(rng.uniform(-12, 12))} {_n(ax)} {_n(H * 0.6)})",
            )
        )
    # A wavy ribbon across the frame.
    wave_y = H * rng.uniform(0.55, 0.72)
    amp, thick, phase = rng.uniform(25, 55), rng.uniform(55, 85), rng.uniform(0, 2 * math.pi)
    upper = [(float(x), wave_y + amp * math.sin(x / 170 + phase)) for x in range(-40, int(W) + 80, 60)]
    lower = [(x, y + thick) for x, y in reversed(upper)]
    c.add(_path(_smooth_d(upper) + _smooth_d(lower).replace("M", "L", 1) + "Z", fill=p.accents[2], filter=shadow))
    # Cut-paper leaves, each with a creased vein.
    for _ in range(rng.randint(2, 3)):
        x, y = rng.uniform(0.1, 0.9) * W, rng.uniform(0.45, 1.0) * H
        length = rng.uniform(180, 280)
        # Tints and shades of the palette, so a leaf never vanishes against a shape of its own colour.
        tint = rng.choice((p.light, _mix(p.accents[0], p.light, 0.45), _mix(p.accents[2], p.ink, 0.35)))
        leaf = _path(_leaf(length, length * 0.38), fill=tint) + _path(
            f"M{_n(length * 0.12)},0L{_n(length * 0.8)},0",
            stroke=_mix(tint, p.ink, 0.3),
            stroke_width=4.0,
            stroke_linecap="round",
        )
        c.add(
            _el(
                "g",
                leaf,
                filter=small_shadow,
                transform=f"translate({_n(x)} {_n(y)}) rotate({_n(rng.uniform(-150, -30))})",
            )
        )
    for _ in range(rng.randint(4, 7)):
        c.add(
            _circle(
                rng.uniform(0, W), rng.uniform(0, H), rng.uniform(10, 26), fill=rng.choice(colours), filter=small_shadow
            )
        )


# ------------------------------------------------------------------------ sport


def _ball(c: _Canvas, x: float, y: float, r: float, colour: str, p: Palette, football: bool = False) -> None:
    """A shaded ball: stitched seams, or a football's panels when ``football`` is set."""
    if not football:
        c.add(_circle(x, y, r, fill=_sphere(c, "ball", colour, p)))
        seam = (
            f"M{_n(x - r * 0.75)},{_n(y - r * 0.65)}Q{_n(x - r * 0.1)},{_n(y)} {_n(x - r * 0.75)},{_n(y + r * 0.65)}"
            f"M{_n(x + r * 0.75)},{_n(y - r * 0.65)}Q{_n(x + r * 0.1)},{_n(y)} {_n(x + r * 0.75)},{_n(y + r * 0.65)}"
        )
        c.add(
            _path(seam, fill="none", stroke=p.light, stroke_width=r * 0.09, stroke_opacity=0.85, stroke_linecap="round")
        )
        return
    shade = c.radial(
        "ball", [(0, "#ffffff", 1), (0.6, p.light, 1), (1, _mix(p.light, p.ink, 0.45), 1)], cx=0.35, cy=0.3, r=0.8
    )
    c.define("ballclip", "clipPath", _circle(x, y, r))
    corners = [
        (x + r * 0.36 * math.cos(a), y + 0.05 * r + r * 0.36 * math.sin(a))
        for a in (-math.pi / 2 + k * 2 * math.pi / 5 for k in range(5))
    ]
    spokes = "".join(f"M{_n(px)},{_n(py)}L{_n(px + (px - x) * 1.4)},{_n(py + (py - y) * 1.4)}" for px, py in corners)
    panels = "".join(_circle(x + (px - x) * 2.6, y + (py - y) * 2.6, r * 0.3) for px, py in corners)
    c.add(
        _el(
            "g",
            _circle(x, y, r, fill=shade)
            + _el("g", panels, fill=p.ink, fill_opacity=0.8)
            + _path(_polyline_d(corners, closed=True), fill=p.ink, fill_opacity=0.85)
            + _path(spokes, stroke=p.ink, stroke_opacity=0.6, stroke_width=r * 0.05),
            clip_path=c.ref("ballclip"),
        )
    )


def _streaks(c: _Canvas, rng: random.Random, p: Palette, count: int, y_range: tuple[float, float]) -> None:
    shapes = []
    for _ in range(count):
        y = rng.uniform(*y_range)
        x2 = rng.uniform(0.2, 1.05) * W
        x1 = x2 - rng.uniform(180, 560)
        w = rng.uniform(2, 9)
        shapes.append(
            _path(
                f"M{_n(x1)},{_n(y)}L{_n(x2)},{_n(y - w / 2)}A{_n(w / 2)},{_n(w / 2)} 0 0 1 {_n(x2)},{_n(y + w / 2)}Z",
                fill=rng.choice((*p.accents, p.light)),
                fill_opacity=rng.choice((0.35, 0.6, 0.85)),
            )
        )
    c.add(_el("g", "".join(shapes)))


def _sport(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    motif = _pick_motif(rng, tags, MOTIF_KEYWORDS["sport"])
    if motif == "track":
        cx = rng.choice((0.04, 0.96)) * W + rng.uniform(-40, 40)
        cy = H * rng.uniform(1.08, 1.2)
        flat = rng.uniform(0.55, 0.65)
        lanes = 8
        lane_w = rng.uniform(42, 50)
        inner = rng.uniform(560, 660)
        outer = inner + lanes * lane_w
        surface = c.linear("lane", [(0, p.accents[0], 1), (1, p.accents[0], 0.8)])
        c.add(_ellipse(cx, cy, outer + 30, (outer + 30) * flat, fill=surface))
        c.add(_ellipse(cx, cy, inner, inner * flat, fill=p.background[1], stroke=p.light, stroke_width=4.0))
        c.add(
            _el(
                "g",
                "".join(_ellipse(cx, cy, inner + k * lane_w, (inner + k * lane_w) * flat) for k in range(1, lanes + 1)),
                fill="none",
                stroke=p.light,
                stroke_width=3.0,
                stroke_opacity=0.9,
            )
        )
        # Staggered start marks, one per lane.
        marks = []
        for k in range(lanes):
            angle = -math.pi / 2 + (0.3 + 0.035 * k) * (1 if cx < W / 2 else -1)
            r1, r2 = inner + k * lane_w + 6, inner + (k + 1) * lane_w - 6
            marks.append(
                _line(
                    cx + r1 * math.cos(angle),
                    cy + r1 * flat * math.sin(angle),
                    cx + r2 * math.cos(angle),
                    cy + r2 * flat * math.sin(angle),
                )
            )
        c.add(_el("g", "".join(marks), stroke=p.accents[1], stroke_width=5.0))
        # Light trails sweep round the bend, one per busy lane.
        trails = []
        for k in rng.sample(range(lanes), k=rng.randint(3, 5)):
            r = inner + (k + 0.5) * lane_w
            start = rng.uniform(-2.3, -1.1) if cx < W / 2 else rng.uniform(-2.5, -1.3)
            end = start + rng.uniform(0.25, 0.5)
            x1, y1 = cx + r * math.cos(start), cy + r * flat * math.sin(start)
            x2, y2 = cx + r * math.cos(end), cy + r * flat * math.sin(end)
            trails.append(
                _path(
                    f"M{_n(x1)},{_n(y1)}A{_n(r)},{_n(r * flat)} 0 0 1 {_n(x2)},{_n(y2)}",
                    stroke=rng.choice((p.accents[1], p.light)),
                    stroke_width=rng.uniform(6, 14),
                    stroke_opacity=rng.choice((0.55, 0.8, 0.95)),
                )
            )
        c.add(_el("g", "".join(trails), fill="none", stroke_linecap="round", filter=c.glow("glow", 4)))
        _streaks(c, rng, p, rng.randint(4, 6), (H * 0.05, H * 0.18))
        return

    if motif == "pitch":
        # The pitch is framed at a slight angle and crop, so no two covers share a view.
        frame = (
            f"translate({_n(W / 2)} {_n(H / 2)}) rotate({_n(rng.uniform(-14, 14))}) "
            f"scale({rng.uniform(1.0, 1.45):.2f}) translate({_n(-W / 2 + rng.uniform(-180, 180))} {_n(-H / 2)})"
        )
        stripe = W / 10
        c.add(
            _el(
                "g",
                "".join(_rect(k * stripe, -H, stripe, 3 * H) for k in range(-10, 20, 2)),
                fill=p.ink,
                fill_opacity=0.12,
                transform=frame,
            )
        )
        lines = (
            _line(W / 2, -H, W / 2, 2 * H)
            + _circle(W / 2, H / 2, 120.0)
            + _circle(W / 2, H / 2, 5.0, fill=p.light)
            + _rect(-5.0, H / 2 - 190, 170.0, 380.0)
            + _rect(W - 165, H / 2 - 190, 170.0, 380.0)
            + _rect(-5.0, -H, W + 10, 3 * H)
            + _path(f"M165,{_n(H / 2 - 70)}A95,95 0 0 1 165,{_n(H / 2 + 70)}")
            + _path(f"M{_n(W - 165)},{_n(H / 2 - 70)}A95,95 0 0 0 {_n(W - 165)},{_n(H / 2 + 70)}")
        )
        c.add(_el("g", lines, fill="none", stroke=p.light, stroke_width=4.0, stroke_opacity=0.55, transform=frame))
    else:
        _streaks(c, rng, p, rng.randint(18, 26), (H * 0.1, H * 0.9))

    # A ball on its flight path, with fading ghosts behind it.
    sx, sy = rng.uniform(0.05, 0.2) * W, H * rng.uniform(0.8, 0.95)
    bx, by = focal[0] + rng.uniform(80, 220), max(focal[1] - rng.uniform(40, 140), H * 0.32)
    apex = max(min(sy, by) - rng.uniform(100, 200), H * 0.12)
    control = ((sx + bx) / 2, 2 * apex - (sy + by) / 2)
    arc = f"M{_n(sx)},{_n(sy)}Q{_n(control[0])},{_n(control[1])} {_n(bx)},{_n(by)}"
    c.add(
        _path(
            arc,
            fill="none",
            stroke=p.light,
            stroke_width=3.0,
            stroke_dasharray="4 14",
            stroke_linecap="round",
            stroke_opacity=0.8,
        )
    )
    radius = rng.uniform(36, 52)
    for k, t in enumerate((0.55, 0.7, 0.82, 0.92)):
        gx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * control[0] + t**2 * bx
        gy = (1 - t) ** 2 * sy + 2 * (1 - t) * t * control[1] + t**2 * by
        c.add(_circle(gx, gy, radius * (0.7 + 0.07 * k), fill=p.light, fill_opacity=0.08 + 0.06 * k))
    c.add(_ellipse(bx + 30, H * 0.93, radius * 1.3, radius * 0.25, fill=p.ink, fill_opacity=0.35))
    _ball(c, bx, by, radius, p.accents[1], p, football=motif == "pitch")


def _fallback(c: _Canvas, rng: random.Random, p: Palette, focal: Point, tags: Sequence[str]) -> None:
    for i in range(rng.randint(4, 6)):
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        d = _smooth_d(_blob_points(cx, cy, rng.uniform(120, 260), _harmonics(rng, 0.12)), closed=True)
        c.add(_path(d, fill=p.accents[i % 3], fill_opacity=0.5))
    c.add(_circle(focal[0], focal[1], 60.0, fill=p.light, fill_opacity=0.8))


Motif = Callable[[_Canvas, random.Random, Palette, Point, Sequence[str]], None]

MOTIFS: dict[str, Motif] = {
    "technology": _technology,
    "business": _business,
    "science": _science,
    "health": _health,
    "culture": _culture,
    "sport": _sport,
}


# ------------------------------------------------------------------------ api


def palette_index(article: ArticleInfo) -> int:
    """Which of its category's palettes ``article``'s cover is drawn in (the first draw of its seed)."""
    palettes = PALETTES.get(article.category.strip().lower(), FALLBACK_PALETTES)
    return random.Random(seed_for(article.slug)).randrange(len(palettes))


def render_cover(article: ArticleInfo, palette: int | None = None) -> str:
    """Return the SVG document for ``article``'s cover (pure and deterministic).

    ``palette`` picks the category palette by index (modulo their number) instead of the
    seeded draw; the shapes stay those of the seed. Personalised variants use it so that
    each variant of a story differs from its default cover in colour as well.
    """
    seed = seed_for(article.slug)
    rng = random.Random(seed)
    category = article.category.strip().lower()
    palettes = PALETTES.get(category, FALLBACK_PALETTES)
    drawn = rng.randrange(len(palettes))  # always drawn, so the shapes do not depend on ``palette``
    chosen = palettes[(drawn if palette is None else palette) % len(palettes)]
    canvas = _Canvas(prefix=f"c{seed % 0xFFFFF:05x}")
    focal = _backdrop(canvas, rng, chosen)
    MOTIFS.get(category, _fallback)(canvas, rng, chosen, focal, article.tags)
    _finish(canvas, chosen)
    return canvas.render()


def load_articles(articles_dir: Path = ARTICLES_DIR) -> list[ArticleInfo]:
    """Every article the corpus loader accepts, skipping (with a warning) the files it rejects."""
    articles = []
    for path in article_paths(articles_dir):
        try:
            articles.append(ArticleInfo.of(parse_article(path)))
        except CorpusError as error:  # a half-written file must not stop the run
            print(f"covers: skipping {path.name}: {'; '.join(error.problems)}", file=sys.stderr)
    return articles


def write_cover(article: ArticleInfo, covers_dir: Path = COVERS_DIR, palette: int | None = None) -> bool:
    """Write ``article``'s cover atomically (``palette`` as in `render_cover`); return ``True`` if the file changed."""
    svg = render_cover(article, palette)
    target = cover_path(article.slug, covers_dir)
    if target.exists() and target.read_text(encoding="utf-8") == svg:
        return False
    covers_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=covers_dir, prefix=f".{article.slug}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(svg)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def generate_covers(articles_dir: Path = ARTICLES_DIR, covers_dir: Path = COVERS_DIR) -> list[Path]:
    """Render a cover for every article; return the paths of all covers (changed or not)."""
    paths = []
    for article in load_articles(articles_dir):
        write_cover(article, covers_dir)
        paths.append(cover_path(article.slug, covers_dir))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: regenerate all covers (or only the given slugs)."""
    parser = argparse.ArgumentParser(
        prog="python -m media_demo.articles.cover_art", description="Regenerate cover art."
    )
    parser.add_argument("slugs", nargs="*", help="only these slugs (default: every article)")
    parser.add_argument("--articles-dir", type=Path, default=ARTICLES_DIR)
    parser.add_argument("--covers-dir", type=Path, default=COVERS_DIR)
    args = parser.parse_args(argv)

    articles = load_articles(args.articles_dir)
    if args.slugs:
        wanted = set(args.slugs)
        articles = [a for a in articles if a.slug in wanted]
        missing = wanted - {a.slug for a in articles}
        for slug in sorted(missing):
            print(f"covers: no article named {slug!r}", file=sys.stderr)
    changed = 0
    for article in articles:
        if article.category not in PALETTES:
            print(f"covers: {article.slug}: unknown category {article.category!r}, using neutral art", file=sys.stderr)
        if write_cover(article, args.covers_dir):
            changed += 1
    print(f"covers: {len(articles)} covers, {changed} written, {len(articles) - changed} unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
