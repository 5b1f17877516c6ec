"""Tutorial 4.2: filter Wikipedia page-count lines with a regex (dask.bag).

With ``--input 'DIR/part-*.gz'`` it reads real page-count files (on storage every worker
sees); without, each partition makes its own synthetic lines from its random stream.
``daskburst run examples/bag.py --backend processes -- --regex Obama``
"""

import argparse
import functools
import re

import dask.bag as db
from _report import report

import daskburst

# tutorial: dask.config.set(scheduler='processes', num_workers = 4)   <- deleted: --backend decides

TITLES = ("Barack_Obama", "Main_Page", "Image:Obama_2008.jpg", "Python", "Dask", "Berkeley")
LANGS = ("en", "de", "fr", "en.m")


def synthetic(seed, part, lines):
    """Page-count lines ``date time lang title hits bytes`` of one partition."""
    rng = daskburst.stream(seed, part)
    titles = rng.integers(0, len(TITLES), lines)
    langs = rng.integers(0, len(LANGS), lines)
    hits = rng.integers(1, 500, lines)
    return [
        f"20081113 {part:06d} {LANGS[lang]} {TITLES[t]} {h} {h * 1200}\n"
        for t, lang, h in zip(titles, langs, hits, strict=True)
    ]


def find(line, regex="Obama", language="en"):
    """The tutorial's test: the title matches ``regex`` and the project is ``language``."""
    vals = line.split(" ")
    if len(vals) < 6:
        return False
    tmp = re.search(regex, vals[3])
    return not (tmp is None or (language is not None and vals[2] != language))


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--input", help="glob of page-count files (default: synthetic)")
parser.add_argument("--regex", default="Obama")
parser.add_argument("--language", default="en")
parser.add_argument("--partitions", type=int, default=8)
parser.add_argument("--lines", type=int, default=20_000, help="per synthetic partition")
args = parser.parse_args()

if args.input:
    wiki = db.read_text(args.input)
else:
    seed = daskburst.seed()
    wiki = db.from_sequence(range(args.partitions), npartitions=args.partitions).map_partitions(
        lambda parts: [line for p in parts for line in synthetic(seed, p, args.lines)]
    )
matches = wiki.filter(functools.partial(find, regex=args.regex, language=args.language))
# one compute for both results (tutorial 6.3): the lines are read once
import dask  # noqa: E402

total, found = dask.compute(wiki.count(), matches)
report("bag", {"lines": total, "matches": len(found), "first": found[:5]})
