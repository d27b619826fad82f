#!/usr/bin/env python3
"""Mutation fuzzing of kconv's readers: flips, overwrites and truncates bytes of the fixture files (and of
published model files, with --wild) and runs kconv on each mutant under a CPU-time and memory limit — `inspect`
(structure only), `convert` (reads every weight and writes another file) or `verify` (reads the weights, runs the
model, compares with a reference), whichever applies to the file's kind. A mutated weights file is given with its
case's JSON config, a mutated reference with its model.

A run passes when every mutant ends in a clean refusal (one `kconv: error:` line, exit 1) or a success (for
`verify`, also a FAIL verdict: mutated weights compute other outputs); a
signal, a timeout, any other exit — or a refusal that says kconv's worker process crashed outside libhdf5 — is
reported with the mutant kept for reproduction. Refusals that say libhdf5 crashed or looped in the worker
process (`WorkerProcess`) pass but are counted apart, as "contained".

    python3 Scripts/fuzz.py --kconv .build/debug/kconv --seconds 120 [--seed 1] [--keep DIR]
    python3 Scripts/fuzz.py --kconv .build/debug/kconv --count 300 --jobs 2      # a fixed set of mutants
    python3 Scripts/fuzz.py ... --table                                           # per seed file kind, Markdown
    python3 Scripts/fuzz.py ... --wild ../shared/wild     # also the published files in that folder
    python3 Scripts/fuzz.py ... --in-process      # without the worker process: what libhdf5 does unprotected

The mutants depend only on --seed (and --count), not on timing or --jobs. Needs only the Python standard library.
"""
import argparse, concurrent.futures, os, random, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMORY = 4 << 30  # address-space cap per process
# kconv's own budget for one buffer, well under the cap: an allocation the budget lets through but the cap
# refuses aborts the process, so every size kconv takes from a file must meet this check first.
BUDGET = "1G"
CPU_SECONDS = 20
CONTAINED = {"libhdf5 crashed": "contained crash", "libhdf5 was killed": "contained crash",
             "libhdf5 did not finish": "contained hang"}
PASSING = ("ok", "refused", "contained crash", "contained hang")


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


def is_fixture(source: Path) -> bool:
    return source.parent.parent == ROOT / "Fixtures/cases"


def kind_of(source: Path) -> str:
    """The seed file's kind, the table's row: its name within its case folder (keras2.h5, keras3.weights.h5, ...),
    or for a published file its extension."""
    if is_fixture(source):
        return source.name
    return "published " + (".ref.npz" if source.name.endswith(".ref.npz") else source.suffix)


def commands(source: Path, mutant: Path, out: Path):
    """The kconv argument lists that can read `mutant` (a mutated `source`); None when there are none."""
    if not is_fixture(source):
        return published_commands(source, mutant, out)
    case, name = source.parent, source.name
    dialect = "keras3" if name.startswith("keras3") else "keras2"
    config, reference = case / f"{dialect}.json", case / f"{dialect}.ref.npz"
    target = str(out / ("out.keras" if dialect == "keras2" else "out.h5"))
    if name.endswith(".npz") and not name.endswith(".ref.npz"):
        return None
    if name.endswith(".ref.npz"):
        model = case / f"{dialect}.h5"
        return [["verify", str(model), "--reference", str(mutant)]] if model.exists() else None
    if name.endswith("_weights.h5") or name.endswith(".weights.h5"):
        if not config.exists():
            return None
        return [["inspect", str(config), "--weights", str(mutant)], ["convert", str(config), "--weights", str(mutant), target, "--no-check"]]
    if name.endswith(".json"):
        weights = case / ("keras2_weights.h5" if dialect == "keras2" else "keras3.weights.h5")
        options = [["inspect", str(mutant)]]
        if weights.exists():
            options.append(["convert", str(mutant), "--weights", str(weights), target, "--no-check"])
        return options
    options = [["inspect", str(mutant)], ["convert", str(mutant), target, "--no-check"],
               ["convert", str(mutant), str(out / "out.onnx"), "--no-check"]]
    if reference.exists():
        options.append(["verify", str(mutant), "--reference", str(reference)])
    return options


def published_commands(source: Path, mutant: Path, out: Path):
    """The same for a published file, whose reference outputs are `<name>.ref.npz` beside it. A JSON config is only
    inspected: which weights file goes with it is not recorded."""
    if source.name.endswith(".ref.npz"):
        model = source.with_name(source.name[:-len(".ref.npz")])
        return [["verify", str(model), "--reference", str(mutant)]] if model.exists() else None
    options = [["inspect", str(mutant)]]
    if source.suffix != ".json":
        options += [["convert", str(mutant), str(out / name), "--no-check"] for name in ("out.keras", "out.onnx")]
    reference = source.with_name(source.name + ".ref.npz")
    if reference.exists():
        options.append(["verify", str(mutant), "--reference", str(reference)])
    return options


def run(kconv, args, in_process):
    environment = dict(os.environ, **({"KCONV_IN_PROCESS": "1"} if in_process else {}))
    try:
        result = subprocess.run([kconv, *args, "--max-memory", BUDGET], capture_output=True, preexec_fn=limits, timeout=2 * CPU_SECONDS, env=environment)
    except subprocess.TimeoutExpired:
        return "hang", ""
    err = result.stderr.decode("utf-8", "replace")
    if result.returncode == 0:
        return "ok", ""
    if result.returncode == 1 and args[0] == "verify" and not err and result.stdout.rstrip().endswith(b"FAIL"):
        return "ok", ""  # read and run; the mutated weights compute other outputs, which verify reports
    if result.returncode == 1 and err.startswith("kconv: error:") and err.count("\n") == 1:
        if "kconv's worker process" in err:
            return "worker crash", err[-300:]
        for phrase, outcome in CONTAINED.items():
            if phrase in err:
                return outcome, err[-300:]
        return "refused", ""
    if result.returncode < 0:
        return f"signal {-result.returncode}", err[-300:]
    return f"exit {result.returncode}", err[-300:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kconv", default=str(ROOT / ".build/debug/kconv"))
    parser.add_argument("--seconds", type=float, default=None, help="run until this much time has passed (default 120)")
    parser.add_argument("--count", type=int, default=None, help="run exactly this many mutants instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--keep", default=None, help="where to keep failing mutants")
    parser.add_argument("--in-process", action="store_true", help="run kconv without its worker process")
    parser.add_argument("--table", action="store_true", help="print a Markdown table per seed file kind")
    parser.add_argument("--wild", metavar="DIR", help="also mutate the published model files in DIR (../shared/wild)")
    options = parser.parse_args()
    seconds = options.seconds if options.seconds is not None else (None if options.count else 120)
    rng = random.Random(options.seed)
    sources = sorted(p for p in (ROOT / "Fixtures/cases").rglob("*")
                     if p.suffix in {".h5", ".keras", ".json", ".npz"} and p.name != "expected.json"
                     and p.stat().st_size < 4 << 20)
    if options.wild:
        sources += sorted(p for p in Path(options.wild).resolve().iterdir()
                          if p.suffix in {".h5", ".hdf5", ".keras", ".json", ".npz"} and p.stat().st_size < 4 << 20)
    keep = Path(options.keep or tempfile.mkdtemp(prefix="kconv-fuzz-"))
    keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kconv-fuzz-work-"))
    counts, rows, command_rows, failures = {}, {}, {}, []
    deadline = time.monotonic() + seconds if seconds is not None else None

    def tasks():
        index = 0
        while (options.count is None or index < options.count) and (deadline is None or time.monotonic() < deadline):
            source = rng.choice(sources)
            folder = work / str(index)
            folder.mkdir()
            mutant = folder / ("mutant-" + source.name)
            mutant.write_bytes(mutate(source.read_bytes(), rng))
            options_ = commands(source, mutant, folder)
            if not options_:
                shutil.rmtree(folder)
                continue
            yield index, source, folder, mutant, rng.choice(options_)
            index += 1

    def one(task):
        index, source, folder, mutant, args = task
        outcome, detail = run(options.kconv, args, options.in_process)
        return index, source, folder, mutant, args, outcome, detail

    def record(result):
        index, source, folder, mutant, args, outcome, detail = result
        counts[outcome] = counts.get(outcome, 0) + 1
        for row in (rows.setdefault(kind_of(source), {}), command_rows.setdefault(args[0], {})):
            row[outcome] = row.get(outcome, 0) + 1
        if outcome not in PASSING or (outcome.startswith("contained") and options.keep):
            kept = keep / f"{index}-{source.parent.name}-{source.name}"
            shutil.copy(mutant, kept)
            command = " ".join(args).replace(str(mutant), str(kept))
            if outcome not in PASSING:
                failures.append((outcome, command, detail))
        shutil.rmtree(folder, ignore_errors=True)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            pending = set()
            for task in tasks():
                pending.add(pool.submit(one, task))
                if len(pending) >= 2 * max(1, options.jobs):
                    done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        record(future.result())
            for future in concurrent.futures.as_completed(pending):
                record(future.result())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(counts.values())
    print(f"{total} mutants of {len(sources)} seed files (seed {options.seed}"
          f"{', in process' if options.in_process else ''}): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if options.table:
        print_table(rows, "seed file")
        print()
        print_table(command_rows, "command")
    for outcome, command, detail in failures:
        print(f"  {outcome}: kconv {command}\n    {detail.strip()}")
    # A line CI's log reader understands.
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def print_table(rows, heading):
    print(f"| {heading} | mutants | refused cleanly | opened | libhdf5 crashes / hangs contained | crashes or unclean exits | hangs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = {}
    for kind in sorted(rows) + ["all"]:
        row = rows.get(kind, totals)
        if kind != "all":
            for outcome, n in row.items():
                totals[outcome] = totals.get(outcome, 0) + n
        crashes = sum(n for k, n in row.items() if k.startswith("signal") or k == "worker crash" or k.startswith("exit"))
        print(f"| {kind} | {sum(row.values())} | {row.get('refused', 0)} | {row.get('ok', 0)} | "
              f"{row.get('contained crash', 0)} / {row.get('contained hang', 0)} | {crashes} | {row.get('hang', 0)} |")


if __name__ == "__main__":
    sys.exit(main())
