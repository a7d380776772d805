"""Compare two runs of the same preset: every table byte for byte, and REPORT.md with the commit and the seconds masked.
A refactor that must not change behaviour is checked with it (run the smoke preset before and after, then compare).
Usage: python .ci/same_tables.py RUN_A RUN_B   (e.g. runs/smoke from two checkouts); exit 1 on any difference."""
import re, sys, difflib
from pathlib import Path

def masked(text:str) -> list:
    "REPORT.md lines with what legitimately changes between two runs (commit, seconds) replaced by placeholders."
    text = re.sub(r'\b[0-9a-f]{7,40}(-dirty)?\b', '<commit>', text)
    text = re.sub(r'\d+(\.\d+)? s\b', '<s> s', text)
    text = re.sub(r'\| (\d+\.\d+ / ){3}\d+\.\d+ \|', '| <stages> |', text)
    return [re.sub(r'\| \d+\.\d+ \|$', '| <s> |', l) if 'scripted' in l else l for l in text.splitlines()]

def compare(a:Path, b:Path) -> list:
    "Differences between runs `a` and `b`, as readable lines (empty when they agree)."
    bad = []
    ta = {p.relative_to(a) for p in (a/'tables').rglob('*') if p.is_file()}
    tb = {p.relative_to(b) for p in (b/'tables').rglob('*') if p.is_file()}
    bad += [f"only in {a}: {p}" for p in sorted(ta - tb)] + [f"only in {b}: {p}" for p in sorted(tb - ta)]
    bad += [f"differs: {p}" for p in sorted(ta & tb) if (a/p).read_bytes() != (b/p).read_bytes()]
    ra, rb = masked((a/'REPORT.md').read_text()), masked((b/'REPORT.md').read_text())
    bad += list(difflib.unified_diff(ra, rb, 'REPORT.md (a)', 'REPORT.md (b)', lineterm='', n=0))
    return bad

if __name__ == '__main__':
    if len(sys.argv) != 3: sys.exit(__doc__)
    diffs = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print('\n'.join(diffs) if diffs else 'same tables and report (commit and seconds masked)')
    sys.exit(1 if diffs else 0)
