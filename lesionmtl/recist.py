"""RECIST marks <-> ellipses <-> masks.

Conventions: pixel coordinates (x, y) with x = column, y = row, 0-based, pixel
centres at integer coordinates. RECIST endpoints are a float array of shape
(4, 2) with rows [long_p1, long_p2, short_p1, short_p2], each (x, y).
Angles are in degrees in [0, 180), measured from +x towards +y (y points down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def _norm_angle(degrees: float) -> float:
    """Angle modulo 180 in [0, 180); `-1e-17 % 180` is 180.0, hence the guard."""
    a = float(degrees) % 180.0
    return 0.0 if a >= 180.0 else a


@dataclass(frozen=True)
class Ellipse:
    cx: float
    cy: float
    major: float  # full axis length (diameter)
    minor: float  # full axis length (diameter), <= major
    angle: float  # direction of the major axis, degrees in [0, 180)

    def __post_init__(self) -> None:
        values = (self.cx, self.cy, self.major, self.minor, self.angle)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"ellipse parameters must be finite, got {self}")
        if not 0.0 <= self.minor <= self.major:
            raise ValueError(f"ellipse needs 0 <= minor <= major, got {self}")
        if not 0.0 <= self.angle < 180.0:
            raise ValueError(f"ellipse angle must lie in [0, 180), got {self}")

    def as_features(self) -> np.ndarray:
        """[cx, cy, major, minor, cos 2θ, sin 2θ]: doubling θ makes θ and θ+180 (the same shape) map to one point."""
        t = math.radians(2.0 * self.angle)
        return np.array([self.cx, self.cy, self.major, self.minor, math.cos(t), math.sin(t)])


def _as_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=float)
    if p.shape != (4, 2):
        raise ValueError(f"RECIST points must have shape (4, 2), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"RECIST points must be finite, got {p.tolist()}")
    return p


def _as_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    return m.astype(bool, copy=False)


def _foreground_points(mask: np.ndarray, what: str) -> np.ndarray:
    ys, xs = np.nonzero(_as_mask(mask))
    if xs.size == 0:
        raise ValueError(f"empty mask: no foreground pixels to {what}")
    return np.stack([xs, ys], axis=1).astype(np.float64)


def parse_recist(values: Sequence[float]) -> np.ndarray:
    """8 numbers x11,y11,x12,y12,x21,y21,x22,y22 -> (4, 2) endpoints."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"RECIST values must be numbers, got {values!r}") from exc
    if arr.ndim != 1 or arr.size != 8:
        raise ValueError(f"RECIST needs exactly 8 numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"RECIST values must be finite, got {arr.tolist()}")
    return arr.reshape(4, 2)


def check_inside(points: np.ndarray, shape: tuple[int, int]) -> None:
    """Raise ValueError if an endpoint lies outside an image of `shape` (H, W).

    The image covers [-0.5, W-0.5] x [-0.5, H-0.5] (pixel centres at integers).
    """
    p = _as_points(points)
    h, w = shape
    names = ("long_p1", "long_p2", "short_p1", "short_p2")
    for name, (x, y) in zip(names, p):
        if not (-0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5):
            raise ValueError(f"RECIST {name} (x={x:g}, y={y:g}) lies outside the {h}x{w} (HxW) image")


def recist_to_ellipse(points: np.ndarray) -> Ellipse:
    """Ellipse whose axes are the RECIST diameters.

    The centre is where the two axis lines cross (annotators rarely put the
    short axis through the middle of the long one); parallel or zero-length
    axes fall back to the midpoint of the long axis. Should the "short" axis
    be the longer one, the two are swapped so that major >= minor.
    """
    p1, p2, q1, q2 = _as_points(points)
    d, e = p2 - p1, q2 - q1
    cross = d[0] * e[1] - d[1] * e[0]
    if abs(cross) <= 1e-12 * np.hypot(*d) * np.hypot(*e):  # parallel, or an axis of length 0
        centre = (p1 + p2) / 2.0
    else:
        w = q1 - p1
        s = (w[0] * e[1] - w[1] * e[0]) / cross
        centre = p1 + s * d
    long_len, short_len = float(np.hypot(*d)), float(np.hypot(*e))
    direction = d
    if short_len > long_len:
        long_len, short_len, direction = short_len, long_len, e
    angle = _norm_angle(math.degrees(math.atan2(direction[1], direction[0]))) if long_len > 0 else 0.0
    return Ellipse(float(centre[0]), float(centre[1]), long_len, short_len, angle)


def ellipse_to_recist(e: Ellipse) -> np.ndarray:
    """Endpoints of the major and minor axes through the centre, as (4, 2)."""
    t = math.radians(e.angle)
    u = np.array([math.cos(t), math.sin(t)])
    v = np.array([-u[1], u[0]])
    c = np.array([e.cx, e.cy])
    return np.stack([c - e.major / 2 * u, c + e.major / 2 * u, c - e.minor / 2 * v, c + e.minor / 2 * v])


def draw_ellipse(e: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """Filled ellipse as a bool (H, W) mask: exactly the pixels whose centre lies inside it.

    cv2.ellipse's fill also takes every pixel its outline touches (about half a pixel too wide
    on each side, 12-19 % too much area); testing pixel centres gives the analytic area with no
    extra edge width. A degenerate ellipse thinner than a pixel still marks its centre pixel.
    """
    h, w = (int(s) for s in shape)
    if h <= 0 or w <= 0:
        raise ValueError(f"shape must be two positive sizes (H, W), got {shape}")
    ys, xs = np.mgrid[0:h, 0:w]
    theta = math.radians(e.angle)
    dx, dy = xs - e.cx, ys - e.cy
    along = dx * math.cos(theta) + dy * math.sin(theta)
    across = -dx * math.sin(theta) + dy * math.cos(theta)
    a, b = max(e.major / 2, 1e-6), max(e.minor / 2, 1e-6)
    mask = (along / a) ** 2 + (across / b) ** 2 <= 1.0
    cx, cy = round(e.cx), round(e.cy)
    if not mask.any() and 0 <= cx < w and 0 <= cy < h:
        mask[cy, cx] = True
    return mask


def _moment_ellipse(pts: np.ndarray) -> Ellipse:
    """Ellipse with the same first and second moments as the pixel set.

    For a uniformly filled ellipse the variance along a semi-axis a is a²/4,
    so the full axis is 4*sqrt(eigenvalue); axes are kept >= 1 px.
    """
    cx, cy = pts.mean(axis=0)
    evals, evecs = np.linalg.eigh(np.cov(pts.T, bias=True))
    evals = np.clip(evals, 0.0, None)
    major = max(4.0 * math.sqrt(evals[1]), 1.0)
    minor = max(4.0 * math.sqrt(evals[0]), 1.0)
    isotropic = evals[1] - evals[0] <= 1e-12 * max(evals[1], 1.0)
    angle = 0.0 if isotropic else _norm_angle(math.degrees(math.atan2(evecs[1, 1], evecs[0, 1])))
    return Ellipse(float(cx), float(cy), major, minor, angle)


def _hull_mask(mask: np.ndarray) -> np.ndarray:
    """The pixels whose centre lies in the convex hull of the mask's pixel centres.

    Row by row: every hull edge bounds x on one side, so each row is one run of pixels.
    (``cv2.fillConvexPoly`` would also take pixels the outline merely touches.)
    """
    m = _as_mask(mask)
    pts = _foreground_points(m, "take the hull of")
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    out = m.copy()
    if len(hull) < 3:
        return out
    ys = np.arange(int(pts[:, 1].min()), int(pts[:, 1].max()) + 1, dtype=np.float64)
    p, q = hull, np.roll(hull, -1, axis=0)
    # cv2's hull is clockwise on screen, so the inside is where cross(q - p, point - p) >= 0,
    # i.e. a * x <= b with a = (q - p)_y and b per row:
    a = q[:, 1] - p[:, 1]
    b = (q[:, 0] - p[:, 0]) * (ys[:, None] - p[:, 1]) + a * p[:, 0]
    if np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]) < 0:  # counter-clockwise: flip the inequality
        a, b = -a, -b
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = b / a
    lo = np.where(a < 0, bound, -np.inf).max(axis=1)
    hi = np.where(a > 0, bound, np.inf).min(axis=1)
    for y, x0, x1 in zip(ys.astype(int), np.ceil(lo - 1e-9), np.floor(hi + 1e-9)):
        if x0 <= x1:
            out[y, max(int(x0), 0) : int(x1) + 1] = True
    return out


def _edge_points(mask: np.ndarray) -> np.ndarray:
    """Midpoints between each foreground pixel and each of its background 4-neighbours (x, y).

    The lesion's outline passes between the last pixel centre inside and the first outside, so
    these points straddle it without bias, where pixel centres lie half a pixel inside it.
    """
    padded = np.pad(mask, 1)
    points = []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbour = padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx]
        ys, xs = np.nonzero(mask & ~neighbour)
        points.append(np.stack([xs + dx / 2.0, ys + dy / 2.0], axis=1))
    return np.concatenate(points)


THIN = 8.0  # px: below this minor axis the moment ellipse is the better estimate


def fit_ellipse(mask: np.ndarray) -> Ellipse:
    """Ellipse fitted (``cv2.fitEllipse``) to the outline of the mask's convex hull.

    The released code fitted the convex hull's vertices, which are pixel centres and so lie half
    a pixel inside the lesion's edge (both axes about 0.5 px short). Here the hull is filled
    (:func:`_hull_mask`) and the fit goes through the midpoints between its edge pixels and the
    background (:func:`_edge_points`): unbiased, within 0.5 px on drawn ellipses of 10-400 px
    (tests/test_recist.py). Where the lesion is cut by the image edge, that edge is no part of
    its outline and is left out of the fit, so the ellipse reaches beyond the image as the
    lesion does (kept as measured; masks drawn from it are clipped).

    cv2 returns ((cx, cy), (w, h), angle) where ``w`` lies along ``angle`` and ``h`` along
    angle + 90, so the major axis points along angle + 90 when h > w. Single pixels, implausible
    fits and thin shapes (minor axis under ``THIN`` px, where the least-squares fit overshoots
    the blunt rastered ends by up to 2.5 px) take the moment ellipse of the filled hull instead.
    """
    hull_mask = _hull_mask(mask)
    pts = _foreground_points(hull_mask, "fit an ellipse to")
    outline = _edge_points(hull_mask)
    h_img, w_img = hull_mask.shape
    inside = (
        (outline[:, 0] > -0.5) & (outline[:, 0] < w_img - 0.5) & (outline[:, 1] > -0.5) & (outline[:, 1] < h_img - 0.5)
    )
    cut = not inside.all() and inside.sum() >= 5
    if cut:  # the image edge is not the lesion's outline: fit what is left of it
        outline = outline[inside]
    if len(pts) >= 2:
        (cx, cy), (w, h), angle = cv2.fitEllipse(outline.astype(np.float32))
        lo, hi = pts.min(axis=0) - 1.0, pts.max(axis=0) + 1.0
        span = float(np.hypot(*(hi - lo)))
        if cut:  # the centre of a cut lesion may lie outside what is left of it
            lo, hi = lo - span / 2, hi + span / 2
        plausible = (
            all(math.isfinite(v) for v in (cx, cy, w, h, angle))
            and min(w, h) > 0.0
            and max(w, h) <= 2.0 * span
            and lo[0] <= cx <= hi[0]
            and lo[1] <= cy <= hi[1]
            and min(w, h) >= THIN
        )
        if plausible:
            if h > w:
                w, h, angle = h, w, angle + 90.0
            return Ellipse(float(cx), float(cy), float(w), float(h), _norm_angle(angle))
    return _moment_ellipse(pts)


def measure_recist(mask: np.ndarray) -> np.ndarray:
    """RECIST as a radiologist would draw it on the mask, as (4, 2).

    Long axis: the largest distance between two foreground pixel centres
    (attained on the convex hull). Short axis: the mask's foreground pixels are
    binned into 1 px wide bands perpendicular to the long axis; the short axis
    is the band with the largest extent across it (ties: the band nearest the
    middle of the long axis), drawn exactly perpendicular through the band
    centre. Each endpoint then moves half a pixel outwards, so diameters are
    measured edge to edge, as on screen (a single pixel measures 1 x 1 px), and
    the ellipse drawn from them covers the mask's pixel centres.
    """
    pts = _foreground_points(mask, "measure")
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    dist = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    i, j = np.unravel_index(np.argmax(dist), dist.shape)
    p1, p2 = hull[i], hull[j]
    length = dist[i, j]
    if length == 0.0:
        return p1 + np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, -0.5], [0.0, 0.5]])
    u = (p2 - p1) / length
    v = np.array([-u[1], u[0]])
    rel = pts - p1
    t, s = rel @ u, rel @ v
    band_t = np.rint(t).astype(np.int64)  # position of each pixel's band along the long axis
    offset = band_t.min()
    band = band_t - offset
    s_min = np.full(band.max() + 1, np.inf)
    s_max = np.full(band.max() + 1, -np.inf)
    np.minimum.at(s_min, band, s)
    np.maximum.at(s_max, band, s)
    extent = s_max - s_min  # bands without pixels stay at -inf
    centres = np.arange(extent.size) + offset
    best = np.flatnonzero(extent >= extent.max() - 1e-9)
    k = best[np.argmin(np.abs(centres[best] - length / 2.0))]
    base = p1 + centres[k] * u
    return np.stack([p1 - 0.5 * u, p2 + 0.5 * u, base + (s_min[k] - 0.5) * v, base + (s_max[k] + 0.5) * v])


def recist_from_mask(mask: np.ndarray, method: str = "ellipse_fit") -> np.ndarray:
    """RECIST endpoints derived from a mask: "ellipse_fit" (axes of the fitted ellipse) or "measured"."""
    if method == "ellipse_fit":
        return ellipse_to_recist(fit_ellipse(mask))
    if method == "measured":
        return measure_recist(mask)
    raise ValueError(f"unknown method {method!r}; expected 'ellipse_fit' or 'measured'")
