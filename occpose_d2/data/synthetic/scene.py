"""Render one synthetic scene: people drawn as filled body parts, object occluders, and the
per-person ground truth read back from the rendering (masks, boxes, keypoint visibility).

Every drawn thing writes its id into an ``owner`` map (0 background, ``1..N`` people in drawing
order, ``100+k`` objects). A person's visible mask is ``owner == id`` after everything is drawn;
a joint is visible (``v = 2``) when its pixel still belongs to its person, else occluded
(``v = 1``), so visibility comes from what was drawn later, never from a guess.
"""

from dataclasses import dataclass
from typing import List, Tuple

import cv2
import numpy as np

from ...domains import DOMAIN_SOURCE, DOMAIN_TARGET
from .figure import HEAD, HEAD_RADIUS, LA, LH, LIMBS, LS, LW, RA, RH, RS, RW, Figure, sample_figure
from .styles import DOMAIN_STYLES, finish_image, paint_background, person_colors

__all__ = ["Person", "render_scene"]

# Part labels of a person's part map, in the order they are painted.
_PANTS, _SHIRT, _SLEEVE, _SKIN, _SHOES, _EYES, _HAIR = range(1, 8)
_PART_COLOR = {_PANTS: "pants", _SHIRT: "shirt", _SLEEVE: "sleeve", _SKIN: "skin",
               _SHOES: "shoes", _EYES: "eyes", _HAIR: "shoes"}
_OBJECT_ID = 100


@dataclass
class Person:
    """Ground truth of one rendered person.

    joints: (13, 2) int pixel positions (x, y); visible: (13,) bool, from the owner map;
    amodal: (H, W) bool whole-body silhouette; mask: (H, W) bool visible part;
    occluded_by_person: some silhouette pixel is covered by another person (owner map);
    ignore: True when the person stayed less visible than the domain's ``min_visibility``.
    """

    joints: np.ndarray
    visible: np.ndarray
    amodal: np.ndarray
    mask: np.ndarray
    occluded_by_person: bool = False
    ignore: bool = False


def _pt(p: np.ndarray) -> Tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _draw_parts(parts: np.ndarray, fig: Figure, long_sleeves: bool) -> None:
    """Paint the part labels of ``fig`` into ``parts`` (H, W) uint8, back to front."""
    H, j = fig.height, np.round(fig.joints)
    for a, b, thick, kind in LIMBS:
        if kind == "leg":
            cv2.line(parts, _pt(j[a]), _pt(j[b]), _PANTS, max(2, int(thick * H)))
    for a in (LA, RA):
        foot = (int(j[a][0]), int(j[a][1] + 0.02 * H))
        cv2.ellipse(parts, foot, (max(2, int(0.045 * H)), max(1, int(0.022 * H))), 0, 0, 360,
                    _SHOES, -1)
    side = (j[LS] - j[RS]) / max(np.linalg.norm(j[LS] - j[RS]), 1e-6)
    torso = np.array([j[LS] + side * 0.03 * H, j[RS] - side * 0.03 * H,
                      j[RH] - side * 0.035 * H, j[LH] + side * 0.035 * H])
    cv2.fillPoly(parts, [np.round(torso).astype(np.int32)], _SHIRT)
    hips = np.array([torso[3] + (torso[0] - torso[3]) * 0.15,
                     torso[2] + (torso[1] - torso[2]) * 0.15,
                     j[RH] + (0, 0.04 * H), j[LH] + (0, 0.04 * H)])
    cv2.fillPoly(parts, [np.round(hips).astype(np.int32)], _PANTS)
    neck = (j[LS] + j[RS]) / 2
    cv2.line(parts, _pt(neck), _pt(j[HEAD]), _SKIN, max(2, int(0.05 * H)))
    r = max(3, int(HEAD_RADIUS * H))
    cv2.circle(parts, _pt(j[HEAD]), r, _SKIN, -1)
    hx, hy = _pt(j[HEAD])
    cv2.ellipse(parts, (hx, hy - int(0.35 * r)), (r, max(1, int(0.7 * r))), 0, 180, 360, _HAIR, -1)
    for ex in (hx - int(0.4 * r), hx + int(0.4 * r)):
        cv2.circle(parts, (ex, hy + int(0.05 * r)), max(1, r // 5), _EYES, -1)
    for a, b, thick, kind in LIMBS:
        if kind == "arm":
            forearm = a not in (LS, RS)
            label = _SLEEVE if (long_sleeves or not forearm) else _SKIN
            cv2.line(parts, _pt(j[a]), _pt(j[b]), label, max(2, int(thick * H)))
    for w in (LW, RW):
        cv2.circle(parts, _pt(j[w]), max(1, int(0.03 * H)), _SKIN, -1)


def _paint(img: np.ndarray, parts: np.ndarray, colors: dict, stripes: int) -> None:
    """Colour ``img`` where ``parts`` > 0; part borders are darkened so limbs stay distinct."""
    for label, name in _PART_COLOR.items():
        sel = parts == label
        if sel.any():
            img[sel] = colors[name]
    if stripes:
        ys = np.arange(parts.shape[0])[:, None]
        sel = (parts == _SHIRT) & ((ys // stripes) % 2 == 0)
        img[sel] *= 0.7
    edge = np.zeros(parts.shape, bool)
    edge[:, :-1] |= parts[:, :-1] != parts[:, 1:]
    edge[:, 1:] |= parts[:, :-1] != parts[:, 1:]
    edge[:-1] |= parts[:-1] != parts[1:]
    edge[1:] |= parts[:-1] != parts[1:]
    img[edge & (parts > 0)] *= 0.6


def _place(rng, domain: str, figs: List[Figure]) -> List[Figure]:
    """Translate freshly sampled figures into the image; ``figs`` have the head near (0, 0)."""
    spec = DOMAIN_STYLES[domain]
    h, w = spec.image_size
    placed: List[Figure] = []
    for fig in figs:
        x0, y0, x1, y1 = fig.extent()
        shrink = min(1.0, (h - 6) / (y1 - y0), (w - 6) / (x1 - x0))
        if shrink < 1.0:  # raised arms can make a figure taller than the image
            fig = fig.scaled(shrink)
            x0, y0, x1, y1 = fig.extent()
        if domain == DOMAIN_SOURCE:
            bottom = rng.uniform(0.72 * h, h - 2)
        else:
            bottom = 0.5 * h + 0.5 * fig.height + rng.uniform(-4, 6)
        bottom = float(np.clip(bottom, y1 - y0 + 2, h - 2))
        dy = bottom - y1
        lo, hi = 2 - x0, w - 2 - x1
        for _ in range(12):
            if placed and rng.uniform() < spec.overlap_p:
                other = placed[int(rng.integers(len(placed)))]
                ox0, _, ox1, _ = other.extent()
                dx = (ox0 + ox1) / 2 - (x0 + x1) / 2 + rng.choice([-1, 1]) * rng.uniform(
                    0.3, 0.8) * (x1 - x0)
            else:
                dx = rng.uniform(lo, max(lo, hi))
            dx = float(np.clip(dx, lo, max(lo, hi)))
            cand = fig.translated(dx, dy)
            cx0, _, cx1, _ = cand.extent()
            if rng.uniform() < spec.overlap_p or all(
                cx1 < p.extent()[0] or cx0 > p.extent()[2] for p in placed
            ):
                break
        placed.append(cand)
    return placed


def _draw_objects(rng, domain: str, img, owner, figs: List[Figure]) -> None:
    """Draw object occluders in front of the people (owner ids ``100+k``)."""
    spec = DOMAIN_STYLES[domain]
    h, w = spec.image_size
    k = 0
    for _ in range(spec.max_occluders):
        if not figs or rng.uniform() >= spec.occluder_p:
            continue
        x0, y0, x1, y1 = figs[int(rng.integers(len(figs)))].extent()
        fh, cx = y1 - y0, (x0 + x1) / 2 + rng.uniform(-0.4, 0.4) * (x1 - x0)
        layer = np.zeros((h, w), np.uint8)
        col = np.float32(rng.uniform(40, 220, 3))
        kind = rng.choice(["box", "ball"] if domain == DOMAIN_SOURCE else ["car", "pole", "bush"])
        if kind in ("box", "car"):
            top = y1 - fh * rng.uniform(0.25, 0.5)
            half = (x1 - x0) * rng.uniform(0.5, 1.3 if kind == "box" else 2.0)
            pts = np.int32([[cx - half, top], [cx + half, top], [cx + half, y1 + 3],
                            [cx - half, y1 + 3]])
            cv2.fillPoly(layer, [pts], 1)
            if kind == "car":
                wr = max(3, int(0.07 * fh))
                for wx in (cx - 0.6 * half, cx + 0.6 * half):
                    cv2.circle(layer, (int(wx), int(y1 + 2)), wr, 2, -1)
                cv2.rectangle(layer, (int(cx - 0.7 * half), int(top + 2)),
                              (int(cx + 0.7 * half), int(top + 0.3 * (y1 - top))), 3, -1)
        elif kind == "ball":
            cv2.circle(layer, (int(cx), int(y1 - fh * rng.uniform(0.1, 0.3))),
                       int(fh * rng.uniform(0.12, 0.22)), 1, -1)
        elif kind == "pole":
            pw = int(rng.uniform(3, 7))
            cv2.rectangle(layer, (int(cx), 0), (int(cx) + pw, int(y1 + 4)), 1, -1)
            col = np.float32([70, 70, 75]) * rng.uniform(0.7, 1.3)
        else:  # bush
            col = np.float32([40, rng.uniform(90, 150), 50])
            for _ in range(int(rng.integers(3, 6))):
                c = (int(cx + rng.uniform(-0.6, 0.6) * (x1 - x0)),
                     int(y1 - rng.uniform(0, 0.2) * fh))
                cv2.circle(layer, c, int(fh * rng.uniform(0.1, 0.2)), 1, -1)
        img[layer == 1] = col
        img[layer == 2] = (25, 25, 25)
        img[layer == 3] = (150, 120, 100)
        owner[layer > 0] = _OBJECT_ID + k
        k += 1


def _attempt(rng: np.random.Generator, domain: str):
    spec = DOMAIN_STYLES[domain]
    n = int(rng.choice(len(spec.num_persons_p), p=spec.num_persons_p)) + 1
    figs = [sample_figure(rng, rng.uniform(*spec.height_range)) for _ in range(n)]
    figs = sorted(_place(rng, domain, figs), key=lambda f: f.extent()[3])  # far ones first
    img = paint_background(rng, domain)
    owner = np.zeros(img.shape[:2], np.int32)
    amodal = []
    stripes = domain == DOMAIN_TARGET
    for i, fig in enumerate(figs):
        parts = np.zeros(img.shape[:2], np.uint8)
        _draw_parts(parts, fig, long_sleeves=domain == DOMAIN_TARGET or rng.uniform() < 0.5)
        period = int(rng.integers(2, 5)) if stripes and rng.uniform() < 0.5 else 0
        _paint(img, parts, person_colors(rng, domain), period)
        owner[parts > 0] = i + 1
        amodal.append(parts > 0)
    _draw_objects(rng, domain, img, owner, figs)
    people = []
    is_person = (owner > 0) & (owner < _OBJECT_ID)
    for i, fig in enumerate(figs):
        j = np.round(fig.joints).astype(np.int64)
        vis = owner[j[:, 1], j[:, 0]] == i + 1
        by_person = bool((amodal[i] & is_person & (owner != i + 1)).any())
        people.append(Person(j, vis, amodal[i], owner == i + 1, by_person))
    return img, people


def render_scene(rng: np.random.Generator, domain: str, max_tries: int = 8):
    """Draw one scene of ``domain`` ("pe" or "pd").

    Scenes that leave someone less visible than the domain's ``min_visibility`` (visible pixels /
    silhouette pixels) are re-drawn up to ``max_tries`` times; after that such people are marked
    ``ignore`` (they become crowd/ignore regions in the annotations).

    Returns:
        (image uint8 (H, W, 3) BGR, list of :class:`Person`).
    """
    min_vis = DOMAIN_STYLES[domain].min_visibility
    for _ in range(max_tries):
        img, people = _attempt(rng, domain)
        if all(p.mask.sum() >= min_vis * p.amodal.sum() for p in people):
            break
    for p in people:
        p.ignore = bool(p.mask.sum() < min_vis * p.amodal.sum())
    return finish_image(img, rng, domain), people
