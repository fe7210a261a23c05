"""A seeded synthetic shop whose users' tastes are visible in the product photos.

Generative story (also in the README):

1. Every item has three visual attributes: a colour (6), a shape (4) and a
   fill pattern (3). Its photo is drawn from them with Pillow: the shape in
   that colour and pattern on a light background, with random size, position,
   rotation, shade and background tint, so no two photos are identical.
2. Every item also has a hidden popularity (log-normal), not visible in the
   photo.
3. Every user has a favourite colour and a favourite shape and a mild
   preference over patterns. Their affinity for an item is
   ``2.5*[colour matches] + 1.2*[shape matches] + 0.4*pattern_pref + log popularity``.
4. Half the items are in the shop from the start; the others arrive month by
   month over the six months (``arrival_share``; the ``arrival`` column of
   ``items.csv``), and ``n_arrivals`` more arrive the month after the log ends:
   the catalog holds them, with photos and no interactions, as a shop's
   catalog holds this week's arrivals when the nightly job runs.
5. Most users are there from the start; the others (``signup_share``) sign up
   at a uniform time over the six months. Each user makes ``10 + Poisson(15)``
   distinct interactions at increasing timestamps from their signup to the
   end, each drawn, among the items in the shop at that time and not yet
   chosen, with probability proportional to ``exp(affinity)``. So a nightly
   job meets users the model never saw, as a shop's does.

So a model that only sees pixels can still learn who likes what: colour and
shape carry most of the signal; the popularity part needs interactions.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from recsys.io import atomic_path

COLOURS = {
    "red": (210, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 210),
    "yellow": (235, 200, 30), "purple": (140, 50, 170), "orange": (240, 130, 20),
}
SHAPES = ("circle", "square", "triangle", "star")
PATTERNS = ("solid", "stripes", "dots")
IMAGE_SIZE = 64
START = pd.Timestamp("2024-01-01", tz="UTC").timestamp()
SIX_MONTHS = 182 * 86400
MONTH = SIX_MONTHS / 6


@dataclass(frozen=True)
class DemoConfig:
    n_users: int = 300
    n_items: int = 480
    seed: int = 0
    colour_weight: float = 2.5
    shape_weight: float = 1.2
    pattern_weight: float = 0.4
    popularity_sigma: float = 0.6
    arrival_share: float = 0.5
    n_arrivals: int = 40
    signup_share: float = 0.4


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        corners = [np.pi / 4 + k * np.pi / 2 for k in range(4)]
        radii = [r] * 4
    elif shape == "triangle":
        corners = [-np.pi / 2 + k * 2 * np.pi / 3 for k in range(3)]
        radii = [r * 1.15] * 3
    elif shape == "star":
        corners = [-np.pi / 2 + k * np.pi / 5 for k in range(10)]
        radii = [r * 1.15 if k % 2 == 0 else r * 0.5 for k in range(10)]
    else:  # circle: a many-sided polygon keeps one drawing path
        corners = [k * 2 * np.pi / 48 for k in range(48)]
        radii = [r] * 48
    return [(cx + q * np.cos(a + angle), cy + q * np.sin(a + angle)) for a, q in zip(corners, radii)]


def draw_item(colour: str, shape: str, pattern: str, rng: np.random.Generator,
              size: int = IMAGE_SIZE) -> Image.Image:
    """One product photo: the shape, in its colour and pattern, on a tinted background."""
    tint = rng.integers(225, 256, size=3)
    img = Image.new("RGB", (size, size), tuple(int(t) for t in tint))
    shade = np.clip(np.array(COLOURS[colour]) + rng.integers(-20, 21, size=3), 0, 255)
    fill = tuple(int(c) for c in shade)
    r = size * rng.uniform(0.26, 0.38)
    cx, cy = size / 2 + rng.uniform(-0.08, 0.08, size=2) * size
    polygon = _shape_polygon(shape, cx, cy, r, rng.uniform(-0.25, 0.25))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    texture = Image.new("RGB", (size, size), fill)
    draw = ImageDraw.Draw(texture)
    light = tuple(min(255, c + 110) for c in fill)
    if pattern == "stripes":
        for x in range(-size, size, 8):
            draw.line([(x, 0), (x + size, size)], fill=light, width=3)
    elif pattern == "dots":
        for x in range(3, size, 9):
            for y in range(3, size, 9):
                draw.ellipse([x, y, x + 4, y + 4], fill=light)
    img.paste(texture, mask=mask)
    return img


def generate(config: DemoConfig = DemoConfig()) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Tables of the demo shop and its images (not yet written)."""
    rng = np.random.default_rng(config.seed)
    colour_names = list(COLOURS)
    items = pd.DataFrame({
        "item_id": [f"SKU{i:05d}" for i in range(config.n_items)],
        "colour": rng.choice(colour_names, config.n_items),
        "shape": rng.choice(SHAPES, config.n_items),
        "pattern": rng.choice(PATTERNS, config.n_items),
    })
    items.insert(1, "image_path", [f"images/{i}.jpg" for i in items["item_id"]])
    images = {row.image_path: draw_item(row.colour, row.shape, row.pattern, rng)
              for row in items.itertuples()}
    log_pop = rng.normal(0.0, config.popularity_sigma, config.n_items)
    arrives = rng.random(config.n_items) < config.arrival_share
    release = START + np.where(arrives, rng.integers(1, 6, config.n_items) * MONTH, 0.0)
    items["arrival"] = pd.to_datetime(release, unit="s", utc=True).strftime("%Y-%m-%d")

    fav_colour = rng.choice(colour_names, config.n_users)
    fav_shape = rng.choice(SHAPES, config.n_users)
    pattern_pref = rng.normal(0.0, 1.0, (config.n_users, len(PATTERNS)))
    pattern_idx = items["pattern"].map({p: k for k, p in enumerate(PATTERNS)}).to_numpy()
    signup = np.where(rng.random(config.n_users) < config.signup_share, rng.uniform(0, SIX_MONTHS, config.n_users), 0.0)
    rows = []
    for u in range(config.n_users):
        affinity = (config.colour_weight * (items["colour"].to_numpy() == fav_colour[u])
                    + config.shape_weight * (items["shape"].to_numpy() == fav_shape[u])
                    + config.pattern_weight * pattern_pref[u, pattern_idx] + log_pop)
        times = START + np.sort(rng.uniform(signup[u], SIX_MONTHS, 10 + rng.poisson(15))).round()
        free = np.ones(config.n_items, bool)
        weights = np.exp(affinity - affinity.max())
        for t in times:
            p = np.where(free & (release <= t), weights, 0.0)
            if p.sum() == 0:  # a small shop: everything in it already chosen
                break
            i = rng.choice(config.n_items, p=p / p.sum())
            free[i] = False
            rows.append((f"U{u:04d}", items["item_id"].iloc[i], int(t)))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    arrivals = pd.DataFrame({
        "item_id": [f"SKU{i:05d}" for i in range(config.n_items, config.n_items + config.n_arrivals)],
        "colour": rng.choice(colour_names, config.n_arrivals),
        "shape": rng.choice(SHAPES, config.n_arrivals),
        "pattern": rng.choice(PATTERNS, config.n_arrivals),
        "arrival": pd.Timestamp(START + 6 * MONTH, unit="s", tz="UTC").strftime("%Y-%m-%d"),
    })
    arrivals.insert(1, "image_path", [f"images/{i}.jpg" for i in arrivals["item_id"]])
    images |= {row.image_path: draw_item(row.colour, row.shape, row.pattern, rng) for row in arrivals.itertuples()}
    items = pd.concat([items, arrivals], ignore_index=True)
    users = pd.DataFrame({"user_id": [f"U{u:04d}" for u in range(config.n_users)],
                          "favourite_colour": fav_colour, "favourite_shape": fav_shape})
    return interactions, items, {"images": images, "users": users}


def _earlier_demo(stamp: Path) -> bool:
    """A demo folder written before recsys marked its outputs."""
    try:
        return json.loads(stamp.read_text()).get("generator") == "recsys.data.demo"
    except (OSError, ValueError, AttributeError):
        return False


def write_demo(path: str | os.PathLike, config: DemoConfig = DemoConfig(), force: bool = False,
               overwrite: bool = False) -> Path:
    """Write the demo dataset folder atomically; a rerun with the same config is a no-op.
    Anything at ``path`` that recsys did not write is refused unless ``overwrite``.

    The folder is built beside the target and renamed into place, so an
    interrupted run never leaves a half-written dataset under ``path``.
    """
    path = Path(path)
    stamp = path / "GENERATOR.json"
    wanted = {"generator": "recsys.data.demo", "config": asdict(config)}
    if not force and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return path
    interactions, items, extra = generate(config)
    overwrite = overwrite or _earlier_demo(stamp)
    with atomic_path(path, directory=True, overwrite=overwrite, kind="demo dataset") as tmp:
        (tmp / "images").mkdir()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda kv: kv[1].save(tmp / kv[0], quality=92), extra["images"].items()))
        interactions.to_csv(tmp / "interactions.csv", index=False)
        items.to_csv(tmp / "items.csv", index=False)
        extra["users"].to_csv(tmp / "users_truth.csv", index=False)
        (tmp / "GENERATOR.json").write_text(json.dumps(wanted, indent=2))
    return path
