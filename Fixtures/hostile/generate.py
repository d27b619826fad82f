#!/usr/bin/env python3
"""Write kconv's hostile regression files (issue #15): one small file per class of attack
that a fuzz campaign found, each derived from a real fixture with h5py/zlib only (no Keras).

Usage (from the repository root; needs h5py and numpy, e.g. the fixtures' .venv):

    .venv/bin/python Fixtures/hostile/generate.py

Deletes and rewrites every file in Fixtures/hostile/ except this script. The output is
deterministic (no timestamps), so a rerun leaves git clean. Tests/KConvTests/
HostileFileTests.swift runs every file through kconv and expects a specific error.

Classes:
  reading outside the file   external_link.h5, soft_link_to_external.h5, external_storage.h5,
                             virtual_dataset.h5 (all pointing at outside.h5 / outside.bin,
                             which hold recognisable values: 42.0 everywhere); soft_links.h5
                             (a cycle, and a chain that fans out)
  ambiguous zip archives     duplicate_config.keras, case_variant.keras, dot_slash.keras
  zip bombs                  zip_bomb.keras, bomb.npz
  huge NumPy shapes          huge_shape.npy, overflowing_shape.npy
  huge HDF5 datasets         huge_contiguous.h5
  configs asking for huge    repeat_vector_huge.h5 (a tensor of 2**30 steps: the engine used to
  tensors                    abort allocating it)
  libhdf5 1.10 crashing or   global_heap_object_overflow.h5, global_heap_index_overflow.h5,
  looping                    global_heap_free_space_loop.h5 (what a fuzz run found, made
                             from the fixture on purpose: one field of the global heap that
                             holds the variable-length strings changed)
"""

import json
import shutil
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
CASE = HERE.parent / "cases" / "seed_lstm_one_to_one"   # LSTM(5) + Dense(1): small and simple
SOURCE_H5 = CASE / "keras2.h5"
SOURCE_KERAS = CASE / "keras3.keras"
KERNEL_GROUP = "/model_weights/lstm"                     # the first layer's weight group
SECRET = 42.0                                            # what the "other file" holds

README = ["# Hostile fixtures", "",
          "Written by `generate.py` (h5py, zlib) from `../cases/seed_lstm_one_to_one`; do not edit by hand.",
          "Each file attacks kconv's I/O layer; kconv must refuse it with the error named in",
          "`Tests/KConvTests/HostileFileTests.swift` (never read another file, hang, crash or allocate",
          "what the file merely claims).", ""]


def note(name, what):
    README.append(f"- `{name}`: {what}")


def first_kernel(f):
    """(group, weight name, shape) of the first kernel in the legacy layout."""
    group = f[KERNEL_GROUP]
    for name in group.attrs["weight_names"]:
        name = name.decode() if isinstance(name, bytes) else str(name)
        if name.split("/")[-1].startswith("kernel"):
            return group, name, group[name].shape
    raise LookupError("no kernel")


def h5_copy(name):
    shutil.copyfile(SOURCE_H5, HERE / name)
    return h5py.File(HERE / name, "r+")


def write_hdf5():
    # The "other file": what each link or mapping below would pull into kconv's model.
    with h5py.File(SOURCE_H5, "r") as source, h5py.File(HERE / "outside.h5", "w") as out:
        _, weight, shape = first_kernel(source)
        out.create_dataset("kernel", data=np.full(shape, SECRET, np.float32))
        source.copy(source[KERNEL_GROUP], out, "lstm")
        def fill(_, item):
            if isinstance(item, h5py.Dataset):
                item[...] = SECRET
        out["lstm"].visititems(fill)
    note("outside.h5", f"the file the links below point into: `/kernel` {shape} and a copy of the "
         f"`{KERNEL_GROUP}` weight group, every value {SECRET}")
    np.full(shape, SECRET, "<f4").tofile(HERE / "outside.bin")
    note("outside.bin", f"raw little-endian float32 {shape}, every value {SECRET}: external storage's target")

    with h5_copy("external_link.h5") as f:
        group, weight, _ = first_kernel(f)
        del group[weight]
        group[weight] = h5py.ExternalLink("outside.h5", "/kernel")
    note("external_link.h5", f"`{KERNEL_GROUP}/{weight}` is an external link to `outside.h5:/kernel` "
         "(kconv used to copy those bytes into a converted model; with a FIFO there it blocked)")

    with h5_copy("soft_link_to_external.h5") as f:
        f["elsewhere"] = h5py.ExternalLink("outside.h5", "/lstm")
        del f[KERNEL_GROUP]
        f[KERNEL_GROUP] = h5py.SoftLink("/elsewhere")
    note("soft_link_to_external.h5", f"the layer group `{KERNEL_GROUP}` is a soft link to `/elsewhere`, "
         "an external link to `outside.h5:/lstm`: the escape is an intermediate path component, reached "
         "through a link that stays inside the file")

    with h5_copy("external_storage.h5") as f:
        group, weight, shape = first_kernel(f)
        del group[weight]
        group.create_dataset(weight, shape=shape, dtype="<f4",
                             external=[("outside.bin", 0, int(np.prod(shape)) * 4)])
    note("external_storage.h5", f"`{KERNEL_GROUP}/{weight}` keeps its raw data in the external file "
         "`outside.bin` (dataset creation property `H5Pset_external`)")

    with h5_copy("virtual_dataset.h5") as f:
        group, weight, shape = first_kernel(f)
        del group[weight]
        # Low-level, to leave out the creation time h5py's create_virtual_dataset records.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        space = h5py.h5s.create_simple(shape)
        dcpl.set_virtual(space, b"outside.h5", b"/kernel", h5py.h5s.create_simple(shape))
        h5py.h5d.create(group.id, weight.encode(), h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    with h5py.File(HERE / "soft_links.h5", "w") as f:
        f["cycle_a"] = h5py.SoftLink("/cycle_b")
        f["cycle_b"] = h5py.SoftLink("/cycle_a")
        for level in range(20):
            f[f"fan{level}"] = h5py.SoftLink("/".join([f"/fan{level + 1}"] * 4))
        f.create_group("fan20")
    note("soft_links.h5", "`/cycle_a` and `/cycle_b` are soft links to each other; `/fan<i>` is a soft link to "
         "`/fan<i+1>/fan<i+1>/fan<i+1>/fan<i+1>`, 20 levels deep (4**20 paths if each link were expanded anew)")

    with h5py.File(HERE / "huge_contiguous.h5", "w") as f:
        f.create_dataset("data", shape=(1 << 28,), dtype="<f4")   # contiguous, never written: no storage
    note("huge_contiguous.h5", "`/data`: a contiguous float32 dataset of shape (2**28,) that was never "
         "written, so the 1.4 KB file holds none of its 1 GiB (reading it yields fill values)")

    note("virtual_dataset.h5", f"`{KERNEL_GROUP}/{weight}` is a virtual dataset (`H5D_VIRTUAL` layout) "
         "mapping `outside.h5:/kernel`")


def global_heap_objects(data):
    """The global heap collection ("GCOL") of a small h5py file and its objects, as (collection offset,
    [(object header offset, index, size)]): each object is index (u16), reference count (u16), reserved (u32),
    size (u64), then its bytes padded to 8; index 0 is the collection's free space, which ends it."""
    at = data.index(b"GCOL")
    end = at + struct.unpack_from("<Q", data, at + 8)[0]
    objects, p = [], at + 16
    while p + 16 <= end:
        index, _, _, size = struct.unpack_from("<HHIQ", data, p)
        objects.append((p, index, size))
        if index == 0:
            break
        p += 16 + (size + 7) // 8 * 8
    return at, objects


def write_global_heap():
    """libhdf5 1.10.8 trusts the global heap (where h5py keeps variable-length strings such as `model_config`):
    these files make it crash or loop when kconv reads the model_config attribute."""
    data = SOURCE_H5.read_bytes()
    collection, objects = global_heap_objects(data)
    config = next((p, i, n) for p, i, n in objects if data[p + 16:p + 29] == b'{"class_name"')
    free = next((p, i, n) for p, i, n in objects if i == 0)

    patched = bytearray(data)
    struct.pack_into("<Q", patched, config[0] + 8, config[2] + (0xFF << 32))
    (HERE / "global_heap_object_overflow.h5").write_bytes(patched)
    note("global_heap_object_overflow.h5", f"the global heap object holding `model_config` claims {config[2] + (0xFF << 32)} "
         f"bytes instead of {config[2]}, far past its 4 KB collection: libhdf5 1.10.8 copies that much and crashes (SIGSEGV)")

    # The attribute's own reference to its string: length (u32), collection address (u64), object index (u32).
    reference = struct.pack("<IQI", config[2], collection, config[1])
    assert data.count(reference) == 1, "model_config's heap reference not found once"
    patched = bytearray(data)
    struct.pack_into("<I", patched, data.index(reference) + 12, 0xFFFFFFF0)
    (HERE / "global_heap_index_overflow.h5").write_bytes(patched)
    note("global_heap_index_overflow.h5", "the `model_config` attribute refers to object 4294967280 of a global heap "
         "collection holding a dozen: libhdf5 1.10.8 indexes its table with it unchecked and crashes (SIGSEGV)")

    patched = bytearray(data)
    struct.pack_into("<Q", patched, free[0] + 8, 0)
    (HERE / "global_heap_free_space_loop.h5").write_bytes(patched)
    note("global_heap_free_space_loop.h5", "the global heap collection's free-space object has size 0: libhdf5 1.10.8 "
         "never gets past it while loading the collection, and loops forever")


def zip_bytes(members):
    """A zip archive of (name, data, deflate, declared_size) members with fixed times, so the bytes
    are deterministic. declared_size (if not None) replaces the true uncompressed size in both
    headers: the lie a zip bomb tells."""
    out, central = bytearray(), bytearray()
    for name, data, deflate, declared in members:
        raw = name.encode()
        if deflate:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15)
            stored, method = packer.compress(data) + packer.flush(), 8
        else:
            stored, method = data, 0
        size = len(data) if declared is None else declared
        crc = zlib.crc32(data)
        offset = len(out)
        # version needed, flags, method, mod time, mod date (1980-01-01), crc, sizes, name, extra
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(stored), size, len(raw), 0)
        out += raw + stored
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(stored),
                               size, len(raw), 0, 0, 0, 0, 0, offset) + raw
    count = len(members)
    return bytes(out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0))


def keras_members():
    """The members of the real Keras 3 archive, as (name, bytes)."""
    import zipfile
    with zipfile.ZipFile(SOURCE_KERAS) as z:
        return [(name, z.read(name)) for name in ("metadata.json", "config.json", "model.weights.h5")]


def write_zip():
    members = keras_members()
    by_name = dict(members)
    plain = [(name, data, True, None) for name, data in members]

    shadow = by_name["config.json"].replace(b'"units": 1', b'"units": 3')
    assert shadow != by_name["config.json"]
    (HERE / "duplicate_config.keras").write_bytes(zip_bytes(plain + [("config.json", shadow, True, None)]))
    note("duplicate_config.keras", "two `config.json` members, the second with Dense(3) instead of Dense(1): "
         "Python's zipfile (so Keras) reads the last, kconv used to read the first")

    (HERE / "case_variant.keras").write_bytes(zip_bytes(plain + [("Config.json", shadow, True, None)]))
    note("case_variant.keras", "`config.json` and `Config.json`: one file on a case-insensitive file system")

    (HERE / "dot_slash.keras").write_bytes(zip_bytes(plain + [("./config.json", shadow, True, None)]))
    note("dot_slash.keras", "`config.json` and `./config.json`: one path once extracted")

    zeros = bytes(4 << 20)
    bomb = [(name, data, True, None) for name, data in members if name != "model.weights.h5"]
    bomb.append(("model.weights.h5", zeros, True, 3 << 30))
    (HERE / "zip_bomb.keras").write_bytes(zip_bytes(bomb))
    note("zip_bomb.keras", "`model.weights.h5` is 4 MiB of zeros deflated to a few KB whose headers declare "
         "3 GiB (more than deflate can expand those bytes to)")


def npy_bytes(header, data):
    text = header.encode()
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def write_numpy():
    (HERE / "huge_shape.npy").write_bytes(
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1048576), }", bytes(16)))
    note("huge_shape.npy", "a float32 header declaring shape (2**40, 2**20) (4 EiB) followed by 16 bytes")

    (HERE / "overflowing_shape.npy").write_bytes(
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }", b""))
    note("overflowing_shape.npy", "shape (0, 2**62, 2**62): no element, but its strides overflow 64 bits "
         "(numpy refuses it: 'array is too big')")

    array = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576,), }", bytes(4 << 20))
    (HERE / "bomb.npz").write_bytes(zip_bytes([("in_0.npy", array, True, 3 << 30)]))
    note("bomb.npz", "`in_0.npy`: a 4 MiB float32 array of zeros deflated to a few KB whose headers declare 3 GiB")


def write_configs():
    """Real weights under a config that asks for more than any buffer can hold."""
    with h5_copy("repeat_vector_huge.h5") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].append({"class_name": "RepeatVector", "config": {
            "name": "repeat_vector", "trainable": True, "dtype": "float32", "n": 2**30}})
        f.attrs["model_config"] = json.dumps(config)
    note("repeat_vector_huge.h5", "the fixture's LSTM + Dense followed by `RepeatVector(n=2**30)`: 4 GiB of float32 "
         "per sample, which running it (convert's check, verify, run) used to try to allocate and abort")


def main():
    for path in HERE.iterdir():
        if path.name != "generate.py" and path.is_file():
            path.unlink()
    write_hdf5()
    write_global_heap()
    write_zip()
    write_numpy()
    write_configs()
    (HERE / "README.md").write_text("\n".join(README) + "\n")


if __name__ == "__main__":
    main()
