"""Build the default naming vocabulary (saekit/data/vocab/default.txt) from WordNet + clipart keywords.

Licence: WordNet 3.0 (Princeton University, a permissive BSD-style licence; see
experiments/data/LICENSES.md); the clipart keywords come from public-domain OpenClipArt.

    .venv/bin/python experiments/data/build_vocab.py          # fetches Debian's wordnet-base itself
    .venv/bin/python experiments/data/build_vocab.py --wordnet-dir /usr/share/wordnet

Words kept:
- common nouns whose most frequent WordNet sense is concrete (artifact, animal, plant, food,
  body, natural object, person, shape, substance, location, phenomenon) and that occur in
  WordNet's sense-tagged corpus (cntlist) or in at least --min-gloss-uses of its glosses;
- adjectives tagged at least --min-adj-tags times in the sense-tagged corpus;
- single-word keywords of the bundled clipart used by at least --min-clipart-uses drawings that
  WordNet knows as a noun or adjective.
All lower case, single words of letters (hyphens allowed), deduplicated and sorted.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "saekit" / "data" / "vocab" / "default.txt"
DEFAULT_CLIPART = REPO / "saekit" / "data" / "bundled" / "clipart.zip"

# WordNet lexicographer file numbers (lexnames(5WN)) of concrete noun categories
CONCRETE_NOUN_FILES = {
    5: "animal", 6: "artifact", 8: "body", 13: "food", 15: "location", 17: "object",
    18: "person", 19: "phenomenon", 20: "plant", 25: "shape", 27: "substance",
}
WORD_RE = re.compile(r"^[a-z]+(-[a-z]+)?$")


def tag_counts(wn: Path) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """From cntlist.rev (sense-tagged corpus counts): (noun lemma -> count, noun lemma -> lexicographer
    file of its most frequent sense, adjective lemma -> count)."""
    noun_cnt: dict[str, int] = defaultdict(int)
    adj_cnt: dict[str, int] = defaultdict(int)
    noun_first: dict[str, int] = {}
    for line in (wn / "cntlist.rev").read_text(encoding="utf-8").splitlines():
        sense_key, sense_number, count = line.split()
        lemma, rest = sense_key.split("%", 1)
        ss_type, lexfile = rest.split(":")[:2]
        if ss_type == "1":
            noun_cnt[lemma] += int(count)
            if sense_number == "1":
                noun_first[lemma] = int(lexfile)
        elif ss_type in ("3", "5"):  # adjective, adjective satellite
            adj_cnt[lemma] += int(count)
    return noun_cnt, noun_first, adj_cnt


def gloss_counts(wn: Path) -> Counter:
    """Word frequencies over all WordNet glosses: a frequency proxy for words the tagged corpus misses."""
    counts: Counter = Counter()
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (wn / f"data.{pos}").read_text(encoding="utf-8").splitlines():
            if not line.startswith("  ") and "|" in line:
                counts.update(re.findall(r"[a-z]+(?:-[a-z]+)?", line.split("|", 1)[1].lower()))
    return counts


def first_noun_senses(wn: Path) -> dict[str, tuple[int, bool]]:
    """noun lemma -> (lexicographer file of its most frequent synset, spelt lower-case there).
    Proper nouns (Crete, Louis) are capitalised in data.noun while index.noun lower-cases all."""
    synsets: dict[str, tuple[int, set[str]]] = {}
    for line in (wn / "data.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        f = line.split(" ")
        n_words = int(f[3], 16)
        synsets[f[0]] = (int(f[1]), {f[4 + 2 * i] for i in range(n_words)})
    out = {}
    for line in (wn / "index.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        f = line.split()
        lemma, p_cnt = f[0], int(f[3])
        lexfile, spellings = synsets[f[6 + p_cnt]]
        out[lemma] = (lexfile, lemma in spellings)
    return out


def wordnet_words(wn: Path, min_gloss_uses: int, min_adj_tags: int) -> tuple[set[str], set[str], set[str]]:
    """(concrete common nouns, common adjectives, every single-word noun/adjective lemma)."""
    noun_cnt, _, adj_cnt = tag_counts(wn)
    gloss = gloss_counts(wn)
    senses = first_noun_senses(wn)
    concrete = {w for w, (lexfile, lower) in senses.items()
                if lower and lexfile in CONCRETE_NOUN_FILES and WORD_RE.match(w)
                and (noun_cnt.get(w, 0) >= 1 or gloss[w] >= min_gloss_uses)}
    adjectives = {w for w, c in adj_cnt.items() if c >= min_adj_tags and WORD_RE.match(w)}
    known = {w for w in senses if WORD_RE.match(w)}
    for line in (wn / "index.adj").read_text(encoding="utf-8").splitlines():
        w = line.split(" ", 1)[0]
        if not line.startswith("  ") and WORD_RE.match(w):
            known.add(w)
    return concrete, adjectives, known


def clipart_keywords(clipart_zip: Path, min_uses: int) -> Counter:
    """How many bundled drawings use each lower-cased single-word title/keyword token."""
    with zipfile.ZipFile(clipart_zip) as zf:
        meta = json.loads(zf.read("metadata.json"))
    uses: Counter = Counter()
    for item in meta["items"]:
        words = set()
        for phrase in [item["title"], *item["keywords"]]:
            words.update(re.findall(r"[a-z]+(?:-[a-z]+)?", phrase.lower()))
        uses.update(words)
    return Counter({w: n for w, n in uses.items() if n >= min_uses})


def fetch_wordnet(workdir: Path) -> Path:
    subprocess.run(["apt-get", "download", "wordnet-base"], cwd=workdir, check=True)
    deb = next(workdir.glob("wordnet-base_*.deb"))
    subprocess.run(["dpkg", "-x", str(deb), str(workdir / "root")], check=True)
    return workdir / "root" / "usr" / "share" / "wordnet"


def build(wn: Path, clipart_zip: Path, out: Path, min_gloss_uses: int, min_adj_tags: int,
          min_clipart_uses: int) -> dict:
    concrete, adjectives, known = wordnet_words(wn, min_gloss_uses, min_adj_tags)
    clip = clipart_keywords(clipart_zip, min_clipart_uses)
    clip_words = {w for w in clip if w in known and len(w) > 2}
    words = sorted((concrete | adjectives | clip_words))
    words = [w for w in words if len(w) > 2]
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# saekit default naming vocabulary: concrete WordNet 3.0 nouns, common adjectives and\n"
              "# keywords of the bundled clipart; built by experiments/data/build_vocab.py. One word a line.\n")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    tmp.replace(out)
    return {"n": len(words), "nouns": len(concrete), "adjectives": len(adjectives),
            "clipart_keywords": len(clip_words), "bytes": out.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wordnet-dir", type=Path, default=None, help="dir with index.noun etc. (default: fetch the .deb)")
    ap.add_argument("--clipart", type=Path, default=DEFAULT_CLIPART)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--min-gloss-uses", type=int, default=8)
    ap.add_argument("--min-adj-tags", type=int, default=10)
    ap.add_argument("--min-clipart-uses", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wn = args.wordnet_dir or fetch_wordnet(Path(tmp))
        report = build(wn, args.clipart, args.out, args.min_gloss_uses, args.min_adj_tags, args.min_clipart_uses)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
