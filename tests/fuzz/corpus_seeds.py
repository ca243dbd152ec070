"""Writes a generator's seeds into tests/fuzz/corpus/<target>/ (or the directory given as the
first argument), as seed-<name> files, replacing the old seeds and keeping what libFuzzer added."""
import os
import sys


def write_seeds(target, seeds):
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("seed-"):
            os.unlink(os.path.join(out, f))
    for name, data in sorted(seeds.items()):
        assert len(data) < 64 * 1024, name
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds written to {out}")
