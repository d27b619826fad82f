#!/usr/bin/env python3
"""Measure kconv against the Keras layer catalogue (Fixtures/catalogue, written by Fixtures/catalogue.py).

    python3 Scripts/catalogue.py [--kconv PATH] [--jobs N] [--lib keras2|keras3] [--onnx] [--record | --readme]
                                 [--result PATH] [--keep DIR]

For every catalogue model file (one row per model and format: Keras 3 .keras and .h5, tf_keras .h5) runs
`kconv inspect --json` (does the file open; does kconv's total parameter count equal Keras's count_params)
and `kconv verify --reference` (does kconv compute Keras's outputs, atol 1e-5 rtol 1e-4 as Scripts/parity.py).
Each row is one of:

    pass            both ran, every reference output compared within tolerance, parameter counts equal
    wrong numbers   verify compared and failed (or compared fewer outputs than the reference holds)
    wrong params    verify passed but inspect's total_params differs from Keras's count_params
    refused         kconv stopped with its one-line `kconv: error:` reason (the to-do list)
    crash           a non-zero exit without a `kconv: error:` line, a signal, or a hang (timeout)

With --onnx, every row whose verify passes is also written as ONNX (`kconv convert ROW out.onnx`), checked with
onnx's full checker and run in onnxruntime (one thread) on the reference inputs against Keras's outputs (the
same tolerance; parity.py's run_onnx and compare). Its ONNX status is one of pass, wrong numbers, refused (kconv
refused to write it, naming what ONNX cannot express), invalid (the checker or onnxruntime rejected the file)
or crash; status.json keeps it beside the row's status as "onnx": {"status": ..., "reason": ...}.

Prints the rows that do not pass, a coverage table (per layer class: each format's statuses) and the totals
per Keras version, and writes every row as JSON (--result, default .build/catalogue-result.json).

Fixtures/catalogue/status.json holds the accepted status of each row; --record rewrites it from this run, and
README.md's catalogue section from it (--readme rewrites only that section; a run fails while it is stale).
Without --record the run exits non-zero on a regression: a row recorded as pass that no longer passes (or
is gone), and any wrong-numbers or crash row, recorded or not. Refusals recorded as refusals are accepted.
With --onnx the same holds for each row's ONNX status (an invalid file counts as wrong numbers); without it, the
recorded ONNX statuses are neither checked nor rewritten.

Needs only Python and numpy (no Keras; --onnx also needs onnx and onnxruntime): the models are unpacked from the catalogue's archives
(keras2.tar.xz, keras3.tar.xz) into a scratch folder (--keep DIR keeps them there, to rerun kconv by hand).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import ATOL, RTOL, ROOT, compare, default_kconv, run_onnx, table_line  # noqa: E402

CATALOGUE = os.path.join(ROOT, "Fixtures", "catalogue")
STATUS = os.path.join(CATALOGUE, "status.json")
LIBS = ("keras2", "keras3")
STATUSES = ("pass", "wrong numbers", "wrong params", "refused", "crash")
ONNX_STATUSES = ("pass", "wrong numbers", "invalid", "refused", "crash")
# Statuses that are always a regression, recorded or not: a wrong answer or a broken file, never a to-do item.
FAILURES = ("wrong numbers", "invalid", "crash")
TIMEOUT = 120  # seconds per kconv command; a tiny catalogue model takes well under one


def rows_of(index, libs):
    """[(key, lib, model, format, entry)] for every file of the catalogue, in index order."""
    rows = []
    for lib in libs:
        for model, entry in index.get(lib, {}).get("models", {}).items():
            for fmt, name in entry.get("files", {}).items():
                rows.append((f"{lib}/{name}", lib, model, fmt, entry))
    return rows


def kconv_run(command):
    """(exit code, stdout, stderr); exit code None on a timeout."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as timeout:
        return None, timeout.stdout or "", timeout.stderr or ""


def kconv_error(stderr, folder):
    """kconv's one-line reason (file paths made relative to the extraction folder), or None."""
    lines = [line for line in stderr.splitlines() if line.startswith("kconv: error:")]
    return lines[-1][len("kconv: error:"):].strip().replace(folder + os.sep, "") if lines else None


def crash_reason(code, stderr):
    if code is None:
        return f"no answer within {TIMEOUT} s"
    if code < 0:
        return f"killed by signal {-code}"
    tail = stderr.strip().splitlines()[-1][:200] if stderr.strip() else "no message"
    return f"exit {code} without a kconv error line: {tail}"


def reference_outputs(path):
    """The out_<i> names of a ref.npz (an npz is a zip of <name>.npy)."""
    with zipfile.ZipFile(path) as archive:
        names = [name[:-4] for name in archive.namelist() if name.endswith(".npy")]
    return sorted((n for n in names if re.fullmatch(r"out_\d+", n)), key=lambda n: int(n[4:]))


def failed_output(line):
    """A FAIL line of kconv verify's table in words."""
    cells = re.match(r"(out_\d+)\s+(\[[^\]]*\](?: vs reference \[[^\]]*\])?)\s+(\S+)\s+(\S+)\s+(\[[^\]]*\]|\S+)\s+(.*)$",
                     line.strip())
    if not cells:
        return " ".join(line.split())
    name, shape, absolute, relative, where, verdict = cells.groups()
    return f"{name} {shape}: max abs err {absolute}, max rel err {relative} at {where}: {verdict}"


def measure_onnx(kconv, folder, path, reference, out):
    """Writes one row as ONNX and runs it in onnxruntime: (status, reason)."""
    code, _, err = kconv_run([kconv, "convert", path, out, "--force"])
    if code != 0:
        message = kconv_error(err, folder) if code is not None and code > 0 else None
        return ("refused", message) if message else ("crash", crash_reason(code, err))
    import numpy as np
    reference = np.load(reference)
    try:
        outputs = run_onnx(out, reference)
    except Exception as error:  # the checker or onnxruntime rejected the file
        first = str(error).strip().splitlines()[0][:240] if str(error).strip() else ""
        return "invalid", f"{type(error).__name__}: {first}"
    passed, worst, message = compare(outputs, reference)
    return ("pass", "") if passed else ("wrong numbers", f"max abs err {worst:.2e}: {message}")


def measure(kconv, folder, row, onnx_folder=None):
    """Runs inspect and verify on one row (and, with `onnx_folder`, the ONNX check when verify passes);
    returns its result."""
    key, lib, model, fmt, entry = row
    path = os.path.join(folder, lib, entry["files"][fmt])
    reference = os.path.join(folder, lib, entry["ref"])
    result = {"lib": lib, "model": model, "format": fmt, "class": entry["class"],
              "keras_params": entry["count_params"]}

    code, out, err = kconv_run([kconv, "inspect", path, "--json"])
    try:
        summary = json.loads(out) if code == 0 else None
    except ValueError:
        summary, code = None, "no JSON"
    if summary is not None:
        result["kconv_params"] = summary.get("total_params")
        result["params_match"] = result["kconv_params"] == entry["count_params"]
        unsupported = summary.get("unsupported_layers") or []
        if unsupported:
            result["unsupported_layers"] = [f"{u.get('name')} ({u.get('class_name')})" for u in unsupported]
        inspect = ("ok", "")
    elif code == "no JSON":
        inspect = ("crash", "exit 0 without a JSON summary")
    elif code is not None and code > 0 and kconv_error(err, folder):
        inspect = ("refused", kconv_error(err, folder))
    else:
        inspect = ("crash", crash_reason(code, err))
    result["inspect"] = {"outcome": inspect[0], "message": inspect[1]}

    code, out, err = kconv_run([kconv, "verify", path, "--reference", reference,
                                "--atol", str(ATOL), "--rtol", str(RTOL)])
    wanted = reference_outputs(reference)
    compared = [line.split()[0] for line in out.splitlines() if re.match(r"out_\d+\s", line)]
    failed = [line for line in out.splitlines() if re.match(r"out_\d+\s", line) and "FAIL" in line]
    if code == 0 and set(wanted) <= set(compared):
        verify = ("pass", "")
    elif code == 0:
        verify = ("wrong numbers", f"compared {len(compared)} of the reference's {len(wanted)} outputs")
    elif code is not None and code > 0 and kconv_error(err, folder):
        message = kconv_error(err, folder)
        # A graph that gives the wrong number of outputs is a wrong result, not a refusal.
        verify = ("wrong numbers" if "the reference has no out_" in message else "refused", message)
    elif code == 1 and failed:
        verify = ("wrong numbers", "; ".join(map(failed_output, failed))[:300])
    else:
        verify = ("crash", crash_reason(code, err))
    result["verify"] = {"outcome": verify[0], "message": verify[1]}

    if inspect[0] == "crash":
        status = ("crash", f"inspect: {inspect[1]}")
    elif verify[0] == "crash":
        status = ("crash", f"verify: {verify[1]}")
    elif verify[0] in ("wrong numbers", "refused"):
        status = verify
    elif inspect[0] == "refused":
        status = ("refused", f"inspect: {inspect[1]}")
    elif not result["params_match"]:
        status = ("wrong params", f"kconv counts {result.get('kconv_params')}, Keras {entry['count_params']}")
    else:
        status = ("pass", "")
    result["status"], result["reason"] = status
    if onnx_folder and verify[0] == "pass":
        out = os.path.join(onnx_folder, key.replace("/", "_") + ".onnx")
        result["onnx"] = dict(zip(("status", "reason"), measure_onnx(kconv, folder, path, reference, out)))
    return key, result


def extract(index, libs, folder):
    for lib in libs:
        archive = os.path.join(CATALOGUE, f"{lib}.tar.xz")
        if lib in index and os.path.exists(archive):
            with tarfile.open(archive, "r:xz") as tar:
                tar.extractall(os.path.join(folder, lib), filter="data")


def counts(statuses, order=STATUSES):
    """'3 pass, 1 refused' in the order of `order`."""
    return ", ".join(f"{statuses.count(s)} {s}" for s in order if statuses.count(s)) or "-"


def by_class(index, lib):
    """{class: [(model, entry)]} in the table's order (layer classes, then activations)."""
    classes = {}
    for model, entry in index[lib]["models"].items():
        classes.setdefault(entry["class"], []).append((model, entry))
    return {cls: classes[cls] for cls in sorted(classes, key=lambda c: (c.startswith("activation:"), c.lower()))}


def print_tables(index, libs, results):
    # Rows that do not pass, with kconv's reason.
    widths = (52, 14)
    print()
    print(table_line(("row", "status", "reason"), widths))
    print("-" * 120)
    for key, result in results.items():
        if result["status"] != "pass":
            print(table_line((key, result["status"], result["reason"]), widths))

    # Coverage: per layer class, each format's statuses.
    formats = ("keras", "h5")
    widths = (7, 44, 5, 26, 26)
    print()
    print(table_line(("lib", "class", "rows", *(f".{f}" for f in formats), "not measured"), widths))
    print("-" * 150)
    for lib in libs:
        for cls, models in by_class(index, lib).items():
            cells = []
            for fmt in formats:
                if fmt not in index[lib]["formats"]:
                    cells.append("")
                    continue
                cells.append(counts([results[f"{lib}/{e['files'][fmt]}"]["status"]
                                     for _, e in models if fmt in e.get("files", {})]))
            missing = [m for m, e in models if "keras_fails" in e] + \
                [f"{m}.{f}" for m, e in models for f in e.get("skipped_formats", {})]
            note = f"Keras could not build or save: {', '.join(missing)}" if missing else ""
            print(table_line((lib, cls, str(len(models)), *cells, note), widths))
        excluded = sorted(c for c, info in index[lib]["classes"].items() if "excluded" in info)
        print(table_line((lib, f"(excluded: {len(excluded)} classes)", "", "", "", ", ".join(excluded)), widths))

    # Totals.
    print()
    for lib in libs:
        mine = [r for r in results.values() if r["lib"] == lib]
        per_format = "; ".join(f".{fmt}: {counts([r['status'] for r in mine if r['format'] == fmt])}"
                               for fmt in index[lib]["formats"])
        print(f"{lib} (Keras {index[lib]['keras_version']}): {len(mine)} rows: "
              f"{counts([r['status'] for r in mine])}  ({per_format})")


def print_onnx_tables(index, libs, results):
    """The ONNX statuses: the rows whose ONNX does not pass, per-class coverage, totals."""
    widths = (52, 14)
    print()
    print(table_line(("row", "onnx", "reason"), widths))
    print("-" * 120)
    for key, result in results.items():
        if result.get("onnx", {}).get("status", "pass") != "pass":
            print(table_line((key, result["onnx"]["status"], result["onnx"]["reason"]), widths))

    formats = ("keras", "h5")
    widths = (7, 44, 9, 30)
    print()
    print(table_line(("lib", "class", "kconv ok", *(f".{f} as ONNX" for f in formats)), widths))
    print("-" * 130)
    for lib in libs:
        for cls, models in by_class(index, lib).items():
            rows = [results[f"{lib}/{e['files'][f]}"] for _, e in models for f in formats if f in e.get("files", {})]
            cells = [counts([r["onnx"]["status"] for r in rows if r["format"] == f and "onnx" in r], ONNX_STATUSES)
                     for f in formats]
            print(table_line((lib, cls, str(sum("onnx" in r for r in rows)), *cells), widths))
    print()
    for lib in libs:
        mine = [r["onnx"]["status"] for r in results.values() if r["lib"] == lib and "onnx" in r]
        print(f"{lib} as ONNX: {len(mine)} rows kconv runs: {counts(mine, ONNX_STATUSES)}")


def recorded_status(libs=None):
    """status.json's rows (of `libs` only, when given)."""
    if not os.path.exists(STATUS):
        return {}
    with open(STATUS) as handle:
        return {k: v for k, v in json.load(handle).items() if libs is None or k.split("/")[0] in libs}


def status_entry(status, reason):
    return {"status": status, **({"reason": reason} if reason else {})}


def write_status(results, libs, onnx):
    """status.json: one row per line, keys sorted; rows of libraries not measured are kept, and without
    `onnx` so is each row's recorded ONNX status."""
    before = recorded_status()
    status = {k: v for k, v in before.items() if k.split("/")[0] not in libs}
    for key, result in results.items():
        status[key] = status_entry(result["status"], result["reason"])
        if "onnx" in result:
            status[key]["onnx"] = status_entry(result["onnx"]["status"], result["onnx"]["reason"])
        elif not onnx and "onnx" in before.get(key, {}):
            status[key]["onnx"] = before[key]["onnx"]
    lines = [f" {json.dumps(key)}: {json.dumps(status[key], ensure_ascii=False)}" for key in sorted(status)]
    with open(STATUS, "w") as handle:
        handle.write("{\n" + ",\n".join(lines) + "\n}\n")


README = os.path.join(ROOT, "README.md")
README_BEGIN = "<!-- catalogue coverage: written by Scripts/catalogue.py (--record or --readme) from status.json -->"
README_END = "<!-- end of catalogue coverage -->"


def short_reason(reason):
    """A refusal without the file and layer it names (the table names the class) or the list of dtypes."""
    reason = re.sub(r"^\S+\.(h5|keras|npz)( \(reference for [^)]*\))?: ", "", reason or "")
    reason = re.sub(r"^layer '[^']*' \([^)]*\): ", "", reason)
    reason = re.sub(r"^(in|out)_\d+: unsupported dtype '<U\d+'.*",
                    lambda m: f"its {'inputs' if m[1] == 'in' else 'outputs'} are strings, which kconv's tensors do not hold", reason)
    return re.sub(r" \(supported: [^)]*\)", "", reason).replace("|", "\\|")


def coverage_markdown(index, status):
    """README's catalogue section: totals per Keras version, then each refused class with kconv's reason."""
    class_of = {f"{lib}/{name}": entry["class"] for lib in LIBS if lib in index
                for entry in index[lib]["models"].values() for name in entry.get("files", {}).values()}
    lines = ["| Keras | classes | rows | run with Keras's outputs | refused | as ONNX: pass | ONNX refused |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for lib in LIBS:
        rows = {k: v for k, v in status.items() if k.split("/")[0] == lib}
        if not rows:
            continue
        statuses = [v["status"] for v in rows.values()]
        onnx = [v["onnx"]["status"] for v in rows.values() if "onnx" in v]
        classes = {class_of.get(k, k) for k in rows}
        lines.append(f"| {lib} ({index[lib]['keras_version']}) | {len(classes)} | {len(rows)} | {statuses.count('pass')} | "
                     f"{statuses.count('refused')} | {onnx.count('pass')} | {onnx.count('refused')} |")
    refused = {}
    for key, entry in sorted(status.items()):
        for what, value in (("", entry), (" (ONNX)", entry.get("onnx"))):
            if value and value["status"] != "pass":
                lib = key.split("/")[0]
                cell = refused.setdefault((class_of.get(key, key) + what, short_reason(value.get("reason"))), {})
                cell[lib] = cell.get(lib, 0) + 1
    lines += ["", "| class | rows refused | kconv's reason |", "| --- | --- | --- |"]
    for (cls, reason), per_lib in sorted(refused.items(), key=lambda item: item[0][0].lower()):
        count = ", ".join(f"{n} {lib}" for lib, n in sorted(per_lib.items()))
        lines.append(f"| `{cls}` | {count} | {reason} |")
    return "\n".join(lines)


def readme_with_coverage(index):
    """README.md's text with its catalogue section rewritten from status.json."""
    with open(README) as handle:
        text = handle.read()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        sys.exit(f"README.md has no catalogue section (from '{README_BEGIN}' to '{README_END}')")
    section = README_BEGIN + "\n" + coverage_markdown(index, recorded_status()) + "\n"
    return text[:begin] + section + text[end:], text


def write_readme(index):
    new, _ = readme_with_coverage(index)
    with open(README, "w") as handle:
        handle.write(new)


def regressions(results, libs, onnx):
    """[(row, why)] against status.json, and the rows that newly pass (with `onnx`, their ONNX statuses too:
    `row as ONNX`)."""
    recorded = recorded_status(libs)
    found, improved = [], []

    def judge(key, now, was):
        if now["status"] in FAILURES:
            found.append((key, f"{now['status']}: {now['reason']}"))
        elif was == "pass" and now["status"] != "pass":
            found.append((key, f"was pass, now {now['status']}: {now['reason']}"))
        elif was not in (None, "pass") and now["status"] == "pass":
            improved.append(key)

    for key, result in results.items():
        judge(key, result, recorded.get(key, {}).get("status"))
        if onnx:
            was = recorded.get(key, {}).get("onnx", {}).get("status")
            judge(f"{key} as ONNX", result.get("onnx", {"status": "not run", "reason": "kconv does not run the row"}), was)
    for key, entry in recorded.items():
        if key not in results and entry.get("status") == "pass":
            found.append((key, "recorded as pass but no longer in the catalogue"))
    new = [key for key in results if key not in recorded]
    return found, improved, new


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kconv", default=None)
    parser.add_argument("--jobs", type=int, default=1, help="kconv processes at once (default 1)")
    parser.add_argument("--lib", action="append", choices=LIBS, help="only this Keras version's rows")
    parser.add_argument("--onnx", action="store_true", help="also write each row kconv runs as ONNX and run it in onnxruntime")
    parser.add_argument("--record", action="store_true",
                        help="write Fixtures/catalogue/status.json from this run, and README's coverage from it")
    parser.add_argument("--readme", action="store_true", help="only rewrite README's coverage section from status.json")
    parser.add_argument("--result", default=os.path.join(ROOT, ".build", "catalogue-result.json"),
                        help="where to write every row's result as JSON")
    parser.add_argument("--keep", metavar="DIR", help="extract the models into DIR and leave them there")
    args = parser.parse_args()
    kconv = os.path.abspath(args.kconv or default_kconv())
    libs = tuple(args.lib or LIBS)
    with open(os.path.join(CATALOGUE, "index.json")) as handle:
        index = json.load(handle)
    libs = tuple(lib for lib in libs if lib in index)
    if args.readme:
        write_readme(index)
        return
    rows = rows_of(index, libs)
    started = time.time()

    with tempfile.TemporaryDirectory(prefix="kconv-catalogue-") as scratch:
        folder = os.path.abspath(args.keep) if args.keep else os.path.join(scratch, "models")
        extract(index, libs, folder)
        # A private copy: a concurrent `swift build` may replace the built binary while this runs.
        private_kconv = os.path.join(scratch, "kconv")
        shutil.copy2(kconv, private_kconv)
        onnx_folder = os.path.join(folder, "onnx") if args.onnx else None
        if onnx_folder:
            os.makedirs(onnx_folder, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = dict(pool.map(lambda row: measure(private_kconv, folder, row, onnx_folder), rows))

    print(f"kconv {kconv}; {len(rows)} rows in {time.time() - started:.0f} s with {args.jobs} job(s)"
          + (f"; models in {folder}" if args.keep else ""))
    print_tables(index, libs, results)
    if args.onnx:
        print_onnx_tables(index, libs, results)
    os.makedirs(os.path.dirname(os.path.abspath(args.result)), exist_ok=True)
    with open(args.result, "w") as handle:
        json.dump({"kconv": kconv, "atol": ATOL, "rtol": RTOL, "rows": results}, handle, indent=1, sort_keys=True)
    print(f"results: {args.result}")

    if args.record:
        write_status(results, libs, args.onnx)
        write_readme(index)
        print(f"recorded {len(results)} rows in {os.path.relpath(STATUS, ROOT)} and README.md's coverage")
        return
    found, improved, new = regressions(results, libs, args.onnx)
    if new:
        print(f"{len(new)} rows are not in status.json yet (run with --record to accept them): "
              + ", ".join(new[:10]) + (" ..." if len(new) > 10 else ""))
    if improved:
        print(f"{len(improved)} rows pass now that status.json records otherwise (run with --record to accept): "
              + ", ".join(improved))
    new_readme, readme = readme_with_coverage(index)
    if new_readme != readme:
        found.append(("README.md", "its catalogue coverage differs from status.json (run Scripts/catalogue.py --readme)"))
    if found:
        print(f"\n{len(found)} regressions against status.json:")
        for key, why in found:
            print(f"  {key}: {why}")
        sys.exit(1)
    print("no regressions against status.json")


if __name__ == "__main__":
    main()
