#!/usr/bin/env python3
"""Writes the seed corpus and the regression cases of fuzz_state_dict. The first byte of each
input picks what the rest is (see fuzz_state_dict.cc): 0, a data.pkl that the target wraps in
an archive beside storages data/0 .. data/7 of 256 bytes each; 1, a whole .pth file.

corpus/fuzz_state_dict/       small valid state dicts (torch.save's pickles, protocols 2 and 4,
                              and whole files) and the attacks below, scaled to run.sh's
                              -max_len=4096
regressions/fuzz_state_dict/  the attacks that crashed or exhausted the reader before it was
                              hardened (issue 12), at full strength

Needs python3-torch (a Debian package).

    /usr/bin/python3 tests/fuzz/make_state_dict_seeds.py   # rewrites both folders
"""
import collections
import io
import os
import struct
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus", "fuzz_state_dict")
REGRESSIONS = os.path.join(HERE, "regressions", "fuzz_state_dict")
PICKLE, FILE = b"\x00", b"\x01"


def saved(obj, protocol=2):
    """The bytes torch.save writes for obj."""
    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol)
    return buf.getvalue()


def data_pkl(pth):
    with zipfile.ZipFile(io.BytesIO(pth)) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return z.read(name)


def model_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.BatchNorm1d(2))
    return model.state_dict()


def string(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def long1(v):
    return b"\x8a\x08" + struct.pack("<q", v)


def ints(values):
    return b"(" + b"".join(long1(v) for v in values) + b"t"


def tensor(key, numel, offset, size, stride, dtype="FloatStorage"):
    """_rebuild_tensor_v2(('storage', torch.<dtype>, key, 'cpu', numel), offset, size, stride)."""
    return (b"ctorch._utils\n_rebuild_tensor_v2\n((" + string("storage") +
            b"ctorch\n" + dtype.encode() + b"\n" + string(key) + string("cpu") + long1(numel) +
            b"tQ" + long1(offset) + ints(size) + ints(stride) + b"\x89tR")


def state_dict_pickle(*entries):
    """A plain dict of name -> tensor() entries."""
    body = b"".join(string(name) + t for name, t in entries)
    return b"\x80\x02}(" + body + b"u."


def nested_lists(n):
    return b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."


def one_storage_named(n):
    """n tensors of one storage, the storage's id and the function memoised as torch.save does."""
    first = (b"ctorch._utils\n_rebuild_tensor_v2\nq\x01((" + string("storage") +
             b"ctorch\nFloatStorage\n" + string("0") + string("cpu") + b"K\x40tq\x02Q" +
             b"K\x00(K\x40tq\x03(K\x01tq\x04\x89tR")
    again = b"h\x01(h\x02QK\x00h\x03h\x04\x89tR"
    body = b"".join(b"\x8c" + bytes([len(k)]) + k.encode() + (first if i == 0 else again)
                    for i, k in enumerate(f"w{i}" for i in range(n)))
    return b"\x80\x02}(" + body + b"u."


def deflated_archive(numel):
    """A zip whose data/0 is numel floats of zeros, deflated: torch.save never compresses."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", state_dict_pickle(("w", tensor("0", numel, 0, [numel], [1]))))
        z.writestr("archive/version", "3\n")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as f:
            for _ in range(numel * 4 // (1 << 20)):
                f.write(bytes(1 << 20))
            f.write(bytes(numel * 4 % (1 << 20)))
    return buf.getvalue()


def directory_claims(pth, entry_suffix, size):
    """pth with the central directory's uncompressed size of one entry replaced by size."""
    b = bytearray(pth)
    pos = b.rfind(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", b, pos + 28)[0]
        name = bytes(b[pos + 46:pos + 46 + name_len])
        if name.endswith(entry_suffix):
            struct.pack_into("<I", b, pos + 24, size)
            return bytes(b)
        pos = b.rfind(b"PK\x01\x02", 0, pos)
    raise ValueError(entry_suffix)


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    for folder in (CORPUS, REGRESSIONS):
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name != "README.md":
                os.remove(os.path.join(folder, name))
    state = model_state()
    no_counter = collections.OrderedDict((k, v) for k, v in state.items()
                                         if not k.endswith("num_batches_tracked"))
    w = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    seeds = {
        "sequential": PICKLE + data_pkl(saved(state)),
        "sequential-protocol4": PICKLE + data_pkl(saved(state, protocol=4)),
        "no-num-batches-tracked": PICKLE + data_pkl(saved(no_counter)),
        "data-parallel": PICKLE + data_pkl(saved(collections.OrderedDict(
            ("module." + k, v) for k, v in state.items()))),
        "tied-weights": PICKLE + data_pkl(saved({"0.weight": w, "tied.weight": w})),
        "transposed-view": PICKLE + data_pkl(saved({"0.weight": w.t()[:2].t()})),
        "slice-with-offset": PICKLE + data_pkl(saved({"s": torch.arange(10.0)[3:7]})),
        "empty-and-scalar": PICKLE + data_pkl(saved({"e": torch.zeros(0, 3), "s": torch.tensor(2.0)})),
        "parameter": PICKLE + data_pkl(saved({"p": torch.nn.Parameter(torch.ones(2))})),
        "dtypes-1": PICKLE + data_pkl(saved({n: torch.ones(3, dtype=d) for n, d in [
            ("d", torch.float64), ("h", torch.float16), ("bf", torch.bfloat16),
            ("l", torch.int64)]})),
        "dtypes-2": PICKLE + data_pkl(saved({n: torch.ones(3, dtype=d) for n, d in [
            ("i", torch.int32), ("s", torch.int16), ("c", torch.int8), ("u", torch.uint8),
            ("b", torch.bool)]})),
        "file-sequential": FILE + saved(state),
        "file-sequential-protocol4": FILE + saved(state, protocol=4),
    }
    small_pth = saved({"w": torch.ones(4)})
    attacks = {  # name: (full strength for regressions/, scaled for corpus/)
        "nested-lists": (nested_lists(100_000), nested_lists(2_000)),
        "one-storage-named-200-times": (one_storage_named(200), one_storage_named(150)),
        "deflate-bomb": (deflated_archive(4 << 20), deflated_archive(1 << 18)),
        "directory-claims-4gb": (directory_claims(small_pth, b"/data/0", 0xfffffff0), None),
        "stride-zero-view": (state_dict_pickle(("w", tensor("0", 1, 0, [10**9], [0]))), None),
        "view-outside-storage": (state_dict_pickle(("w", tensor("0", 64, 60, [2, 3], [3, 1]))), None),
        "numel-overflow": (state_dict_pickle(("w", tensor("0", 4, 0, [2**31] * 3, [0] * 3))), None),
        "extent-overflow": (state_dict_pickle(("w", tensor("0", 4, 0, [3], [2**62]))), None),
        "storage-numel-overflow": (state_dict_pickle(("w", tensor("0", 2**62, 0, [1], [1]))), None),
        "negative-stride": (state_dict_pickle(("w", tensor("0", 4, 0, [2], [-1]))), None),
        "cyclic-list": (b"\x80\x02]q\x00h\x00a.", None),
    }
    for name, data in seeds.items():
        write(CORPUS, name, data)
    for name, (full, scaled) in attacks.items():
        mode = FILE if full.startswith(b"PK") else PICKLE
        write(REGRESSIONS, name, mode + full)
        if scaled is None:
            write(CORPUS, name, mode + full)
        else:
            write(CORPUS, name + "-scaled", mode + scaled)
    too_long = [n for n in os.listdir(CORPUS) if os.path.getsize(os.path.join(CORPUS, n)) > 4096]
    if too_long:
        sys.exit(f"corpus inputs longer than run.sh's -max_len=4096: {too_long}")


if __name__ == "__main__":
    main()
