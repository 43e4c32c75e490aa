"""Build `bundled:clipart` (saekit/data/bundled/clipart.zip) from Debian's `openclipart-svg`.

Licence: the OpenClipArt drawings are public domain (see experiments/data/LICENSES.md); the
derived rasters and captions shipped in the package are public domain too.

    .venv/bin/pip install cairosvg          # the `build-data` extra
    .venv/bin/python experiments/data/build_clipart.py            # fetches the .deb itself
    .venv/bin/python experiments/data/build_clipart.py --svg-root /usr/share/openclipart/svg

The Debian package is fetched with `apt-get download` and unpacked with `dpkg -x` into a
temporary directory (no system install). Each drawing is rasterised with cairosvg, cropped to
its visible content, centred on a white square and stored as a palette PNG; title and rdf
keywords become the caption, a curated category (a set of OpenClipArt folders) the label.
The selection is deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "saekit" / "data" / "bundled" / "clipart.zip"
FORMAT_VERSION = 1

# label -> OpenClipArt folders. "dir/**" takes the folder and everything below it; a bare
# "dir" takes only the drawings directly in it. Chosen to be visually distinct; OpenClipArt's
# own `unsorted`, `special/examples` and tiny folders are left out.
CATEGORIES: dict[str, list[str]] = {
    "animal": ["animals/**"],
    "arrow": ["shapes/arrows/**"],
    "building": ["buildings", "buildings/homes/**"],
    "button": ["computer/buttons/**", "buttons/**"],
    "computer": ["computer", "computer/hardware/**"],
    "flag": ["signs_and_symbols/flags/africa/**", "signs_and_symbols/flags/america/**",
             "signs_and_symbols/flags/asia/**", "signs_and_symbols/flags/europe/**",
             "signs_and_symbols/flags/oceania/**", "signs_and_symbols/flags/historic/**",
             "signs_and_symbols/flags/miscellany/**", "signs_and_symbols/flags"],
    "food": ["food/**"],
    "icon": ["computer/icons/**"],
    "map": ["geography"],
    "map_symbol": ["signs_and_symbols/map_symbols/**"],
    "music": ["recreation/music/**"],
    "office": ["office/**"],
    "pattern": ["special/patterns/**"],
    "person": ["people", "people/stickmen/**", "people/bodypart/**", "people/smilies/**"],
    "plant": ["plants/**"],
    "playing_card": ["recreation/games/cards/**"],
    "sign": ["signs_and_symbols", "signs_and_symbols/hazard/**", "signs_and_symbols/disability/**",
             "transportation/roadsigns/**"],
    "star": ["shapes/stars/**"],
    "tool": ["tools/**"],
    "vehicle": ["transportation", "transportation/boating/**", "transportation/vehicles/**"],
}

TITLE_RE = re.compile(r"<dc:title>(.*?)</dc:title>", re.S)
KEYWORD_RE = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
# keywords that carry no meaning: editor hash ids ("hash(0x874e7bc)") and filing leftovers
JUNK_KEYWORD_RE = re.compile(r"^(hash(\(0x[0-9a-f]+\))?|unsorted|clipart|svg|\d+)$", re.I)
RENDER_PX = 384          # rasterise large, crop to content, then downsample (anti-aliasing)
MAX_SVG_BYTES = 3_000_000


@dataclass(frozen=True)
class Drawing:
    path: str            # absolute path of the real (non-symlink) SVG
    rel: str             # path relative to the svg root, e.g. animals/birds/owl.svg
    label: str
    title: str
    keywords: tuple[str, ...]


def category_of(rel_dir: str) -> str | None:
    for label, patterns in CATEGORIES.items():
        for pat in patterns:
            if pat.endswith("/**"):
                base = pat[:-3]
                if rel_dir == base or rel_dir.startswith(base + "/"):
                    return label
            elif rel_dir == pat:
                return label
    return None


def clean(text: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())


def read_metadata(svg: str) -> tuple[str, tuple[str, ...]]:
    title_m = TITLE_RE.search(svg)
    title = clean(title_m.group(1)) if title_m else ""
    keywords, seen = [], set()
    for raw in KEYWORD_RE.findall(svg):
        kw = clean(raw).replace("_", " ")
        if not kw or JUNK_KEYWORD_RE.match(kw) or kw.lower() in seen:
            continue
        seen.add(kw.lower())
        keywords.append(kw)
    return title, tuple(keywords)


def caption(title: str, keywords: tuple[str, ...]) -> str:
    if title and keywords:
        return f"{title}: {', '.join(keywords)}"
    return title or ", ".join(keywords)


def scan(svg_root: Path) -> list[Drawing]:
    """Unique drawings (symlinks and byte-identical copies dropped) in the chosen categories."""
    out, seen_hash = [], set()
    for f in sorted(svg_root.rglob("*.svg")):
        if f.is_symlink() or not f.is_file():
            continue
        rel = f.relative_to(svg_root)
        label = category_of(str(rel.parent))
        if label is None or f.stat().st_size > MAX_SVG_BYTES:
            continue
        data = f.read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen_hash:
            continue
        seen_hash.add(digest)
        title, keywords = read_metadata(data.decode("utf-8", errors="replace"))
        if not title and not keywords:  # no caption to pair the image with
            continue
        out.append(Drawing(str(f), str(rel), label, title, keywords))
    return out


def select(drawings: list[Drawing], per_class: int, spare: float, seed: int) -> list[Drawing]:
    """Up to per_class*(1+spare) candidates a class, round-robin over sub-folders so that a capped
    class keeps the variety of its folders (icon themes, flag regions)."""
    rng = random.Random(seed)
    by_label: dict[str, dict[str, list[Drawing]]] = defaultdict(lambda: defaultdict(list))
    for d in drawings:
        by_label[d.label][str(Path(d.rel).parent)].append(d)
    chosen = []
    for label in sorted(by_label):
        folders = [sorted(v, key=lambda d: d.rel) for _, v in sorted(by_label[label].items())]
        for f in folders:
            rng.shuffle(f)
        order = []
        while any(folders):
            for f in folders:
                if f:
                    order.append(f.pop())
        chosen.extend(order[: int(per_class * (1 + spare))])
    return chosen


def with_svg_namespaces(data: bytes) -> bytes:
    """Some OpenClipArt files (e.g. the gradient collection) omit the SVG/xlink namespace
    declarations; cairosvg then draws nothing, so declare them on the root element."""
    start = data.find(b"<svg")
    if start < 0:
        return data
    end = data.find(b">", start)
    root = data[start:end]
    extra = b""
    if not re.search(rb"\sxmlns\s*=", root):
        extra += b' xmlns="http://www.w3.org/2000/svg"'
    if not re.search(rb"\sxmlns:xlink\s*=", root):
        extra += b' xmlns:xlink="http://www.w3.org/1999/xlink"'
    return data[: start + 4] + extra + data[start + 4:]


def render(path: str, size: int) -> bytes | None:
    """SVG -> palette PNG bytes of a size x size white-background square, or None if it fails
    or draws nothing."""
    import cairosvg

    try:
        data = with_svg_namespaces(Path(path).read_bytes())
        im = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=data, output_width=RENDER_PX))).convert("RGBA")
        if im.height > im.width * 1.05:
            im = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=data, output_height=RENDER_PX))).convert("RGBA")
    except Exception:  # noqa: BLE001 - malformed SVGs are simply skipped
        return None
    ys, xs = np.nonzero(np.asarray(im)[..., 3] > 8)
    if len(xs) < 20:
        return None
    im = im.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    side = int(max(im.width, im.height) * 1.06) + 2
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(im, ((side - im.width) // 2, (side - im.height) // 2))
    rgb = canvas.convert("RGB").resize((size, size), Image.LANCZOS)
    if np.asarray(rgb).min() > 235:  # near-white: nothing visible at this size
        return None
    buf = io.BytesIO()
    rgb.quantize(256, method=Image.Quantize.FASTOCTREE).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _render_job(args: tuple[str, int]) -> bytes | None:
    return render(*args)


def fetch_debian_svgs(workdir: Path) -> Path:
    """apt-get download + dpkg -x into workdir; returns the svg root. Needs `apt-get update` done."""
    subprocess.run(["apt-get", "download", "openclipart-svg"], cwd=workdir, check=True)
    deb = next(workdir.glob("openclipart-svg_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(workdir / "root")], check=True)
    return workdir / "root" / "usr" / "share" / "openclipart" / "svg"


def previous_renders(path: Path | None, size: int) -> dict[str, bytes]:
    """source -> PNG from an earlier build at the same size, to skip re-rasterising when only the
    selection or the captions changed (rendering is deterministic, so the bytes are the same)."""
    if path is None or not path.is_file():
        return {}
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        if meta.get("image_size") != size:
            return {}
        return {it["source"]: zf.read(it["file"]) for it in meta["items"]}


def build(svg_root: Path, out: Path, size: int, per_class: int, seed: int, workers: int,
          reuse: Path | None = None) -> dict:
    drawings = scan(svg_root)
    candidates = select(drawings, per_class, spare=0.15, seed=seed)
    cached = previous_renders(reuse, size)
    todo = [d for d in candidates if "openclipart/" + d.rel not in cached]
    with Pool(workers) as pool:
        fresh = list(tqdm(pool.imap(_render_job, [(d.path, size) for d in todo], chunksize=4),
                          total=len(todo), desc="rasterising", file=sys.stderr))
    rendered = dict(zip((d.rel for d in todo), fresh))
    pngs = [cached.get("openclipart/" + d.rel, rendered.get(d.rel)) for d in candidates]
    items, counts, seen_png = [], defaultdict(int), set()
    for d, png in zip(candidates, pngs):
        if png is None or counts[d.label] >= per_class:
            continue
        digest = hashlib.sha1(png).digest()
        if digest in seen_png:  # distinct SVGs that rasterise identically
            continue
        seen_png.add(digest)
        counts[d.label] += 1
        items.append((d, png))
    items.sort(key=lambda t: (t[0].label, t[0].rel))
    meta = {
        "format_version": FORMAT_VERSION,
        "name": "clipart",
        "description": "OpenClipArt drawings (Debian openclipart-svg), rasterised",
        "license": "public domain (OpenClipArt)",
        "image_size": size,
        "labels": sorted(counts),
        "items": [],
    }
    tmp = out.with_suffix(".zip.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, (d, png) in enumerate(items):
            name = f"images/{i:05d}.png"
            # fixed timestamps so the same input gives a byte-identical archive
            zf.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), png)
            meta["items"].append({"file": name, "label": d.label, "title": d.title,
                                  "keywords": list(d.keywords), "text": caption(d.title, d.keywords),
                                  "source": "openclipart/" + d.rel})
        info = zipfile.ZipInfo("metadata.json", date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, json.dumps(meta, ensure_ascii=False, indent=0))
    tmp.replace(out)
    return {"n": len(items), "bytes": out.stat().st_size, "counts": dict(sorted(counts.items())),
            "candidates": len(candidates), "rasterised": len(todo), "unique_in_categories": len(drawings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--svg-root", type=Path, default=None, help="unpacked openclipart svg dir (default: fetch the .deb)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--per-class", type=int, default=260)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse", type=Path, default=None,
                    help="an earlier clipart.zip of the same size whose PNGs are taken instead of re-rasterising")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.svg_root or fetch_debian_svgs(Path(tmp))
        report = build(root, args.out, args.size, args.per_class, args.seed, args.workers, args.reuse)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
