#!/usr/bin/env python3
"""Mutation fuzzing of kconv's readers: flips, overwrites and truncates bytes of the fixture files and runs
`kconv inspect` (and `verify` where the file has a reference) on each mutant under a CPU-time and memory
limit. A run passes when every mutant ends in a clean refusal (`kconv: error:` and exit 1) or a success;
a signal, a timeout or any other exit is reported with the mutant kept for reproduction.

    python3 Scripts/fuzz.py --kconv .build/debug/kconv --seconds 120 [--seed 1] [--keep DIR]

Needs only the Python standard library.
"""
import argparse, os, random, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMORY = 4 << 30  # address-space cap per run
CPU_SECONDS = 20


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        kind = rng.random()
        at = rng.randrange(len(data))
        if kind < 0.5:
            data[at] ^= 1 << rng.randrange(8)
        elif kind < 0.8:
            data[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif kind < 0.9:
            width = rng.choice([2, 4, 8])
            data[at:at + width] = rng.choice([b"\xff" * width, b"\x00" * width, (2**31 - 1).to_bytes(4, "little")[:width]])
        else:
            del data[at:]
    return bytes(data)


def limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run(kconv, args):
    try:
        result = subprocess.run([kconv, *args], capture_output=True, preexec_fn=limits, timeout=2 * CPU_SECONDS)
    except subprocess.TimeoutExpired:
        return "hang", ""
    err = result.stderr.decode("utf-8", "replace")
    if result.returncode == 0:
        return "ok", ""
    if result.returncode == 1 and err.startswith("kconv: error:") and err.count("\n") == 1:
        return "refused", ""
    if result.returncode < 0:
        return f"signal {-result.returncode}", err[-300:]
    return f"exit {result.returncode}", err[-300:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kconv", default=str(ROOT / ".build/debug/kconv"))
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", default=None, help="where to keep failing mutants")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    sources = sorted(p for p in (ROOT / "Fixtures/cases").rglob("*")
                     if p.suffix in {".h5", ".keras", ".json", ".npz"} and p.stat().st_size < 4 << 20)
    keep = Path(options.keep or tempfile.mkdtemp(prefix="kconv-fuzz-"))
    keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kconv-fuzz-work-"))
    counts, failures = {}, []
    deadline = time.monotonic() + options.seconds
    try:
        while time.monotonic() < deadline:
            source = rng.choice(sources)
            mutant = work / ("mutant" + source.suffix)
            mutant.write_bytes(mutate(source.read_bytes(), rng))
            if source.suffix == ".npz":
                model = source.parent / source.name.replace(".ref.npz", ".h5")
                if not model.exists():
                    continue
                args = ["verify", str(model), "--reference", str(mutant)]
            else:
                args = ["inspect", str(mutant)]
            outcome, detail = run(options.kconv, args)
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome not in ("ok", "refused"):
                kept = keep / f"{len(failures)}-{source.parent.name}-{source.name}"
                shutil.copy(mutant, kept)
                failures.append((outcome, " ".join(args[:1]), kept, detail))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(counts.values())
    print(f"{total} mutants of {len(sources)} fixture files: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for outcome, command, kept, detail in failures:
        print(f"  {outcome}: kconv {command} {kept}\n    {detail.strip()}")
    # A line CI's log reader understands.
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
