"""Build `bundled:austen` (saekit/data/bundled/austen.json.xz) from Debian's `r-cran-janeaustenr`.

Licence: Jane Austen's six novels are public domain; the janeaustenr packaging (Julia Silge) is
MIT-licensed (see experiments/data/LICENSES.md).

    .venv/bin/pip install rdata             # the `build-data` extra; no R needed
    .venv/bin/python experiments/data/build_austen.py            # fetches the .deb itself
    .venv/bin/python experiments/data/build_austen.py --rdata-dir /usr/lib/R/site-library/janeaustenr/data

The novels are stored as an R lazy-load database (Rdata.rdx index + Rdata.rdb blob of
zlib-compressed serialised character vectors, one line of text per element). We read it with
`rdata`, split each novel into paragraphs at blank lines, drop the front matter and the
VOLUME / CHAPTER headings, and keep one sample per paragraph labelled with the novel's title.
"""
from __future__ import annotations

import argparse
import gzip
import json
import lzma
import re
import struct
import subprocess
import tempfile
import warnings
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "saekit" / "data" / "bundled" / "austen.json.xz"
FORMAT_VERSION = 1
TITLES = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
CHAPTER_RE = re.compile(r"^\s*chapter\s+([0-9ivxlc]+)\b", re.I)
VOLUME_RE = re.compile(r"^\s*volume\s+[0-9ivxlc]+\s*$", re.I)
END_RE = re.compile(r"^\s*(the\s+)?end\.?\s*$|^\s*finis\s*$", re.I)
# an editor's afterword (Northanger Abbey) is not Austen's text
AFTERWORD_RE = re.compile(r"^\s*a note on the text\s*$", re.I)


def read_r_lazyload(data_dir: Path) -> dict[str, list[str]]:
    """{variable name: character vector} from an R package's data/Rdata.{rdx,rdb}."""
    import rdata

    def convert(raw: bytes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that a bare serialisation "assumed RDS"
            return rdata.conversion.convert(rdata.parser.parse_data(raw))

    index = convert(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    blob = (data_dir / "Rdata.rdb").read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset): int(offset) + int(length)]
        expected = struct.unpack(">I", record[:4])[0]  # 4-byte big-endian uncompressed size, then zlib
        raw = zlib.decompress(record[4:])
        if len(raw) != expected:
            raise ValueError(f"{name}: decompressed {len(raw)} bytes, header says {expected}")
        out[str(name)] = [str(line) for line in convert(raw)]
    return out


def paragraphs(lines: list[str]) -> list[tuple[int, str]]:
    """(chapter number, paragraph) pairs; text before the first chapter heading is front matter."""
    out, chapter, buf = [], 0, []

    def flush() -> None:
        if buf and chapter > 0:
            text = " ".join(" ".join(buf).split())
            if text and not VOLUME_RE.match(text) and not END_RE.match(text):
                out.append((chapter, text))
        buf.clear()

    for line in lines:
        if AFTERWORD_RE.match(line):
            break
        if CHAPTER_RE.match(line):
            flush()
            chapter += 1
        elif not line.strip():
            flush()
        else:
            buf.append(line.strip())
    flush()
    return out


def fetch_debian(workdir: Path) -> Path:
    subprocess.run(["apt-get", "download", "r-cran-janeaustenr"], cwd=workdir, check=True)
    deb = next(workdir.glob("r-cran-janeaustenr_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(workdir / "root")], check=True)
    return workdir / "root" / "usr" / "lib" / "R" / "site-library" / "janeaustenr" / "data"


def build(data_dir: Path, out: Path) -> dict:
    books = read_r_lazyload(data_dir)
    if set(books) != set(TITLES):
        raise ValueError(f"unexpected novels {sorted(books)}, expected {sorted(TITLES)}")
    items, counts = [], {}
    for key, title in TITLES.items():  # publication order
        paras = paragraphs(books[key])
        counts[title] = len(paras)
        for k, (chapter, text) in enumerate(paras):
            items.append({"label": title, "chapter": chapter, "paragraph": k, "text": text,
                          "source": f"austen/{key}/chapter-{chapter}/paragraph-{k}"})
    meta = {"format_version": FORMAT_VERSION, "name": "austen",
            "description": "Jane Austen's six novels, one sample per paragraph (Debian r-cran-janeaustenr)",
            "license": "text public domain; janeaustenr packaging MIT (c) 2016-2017 Julia Silge",
            "labels": list(TITLES.values()), "items": items}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(lzma.compress(json.dumps(meta, ensure_ascii=False).encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    tmp.replace(out)
    n_words = sum(len(it["text"].split()) for it in items)
    return {"n": len(items), "bytes": out.stat().st_size, "words": n_words, "counts": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rdata-dir", type=Path, default=None, help="janeaustenr/data dir (default: fetch the .deb)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.rdata_dir or fetch_debian(Path(tmp))
        report = build(data_dir, args.out)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
