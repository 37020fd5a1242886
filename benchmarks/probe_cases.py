"""The cases of ``benchmarks/probe_inputs.py`` (issue 22): bad inputs and options.

:func:`make_cases` writes the inputs under a workspace folder and returns the cases: each a
``deblur`` command line with ``{ws}`` (the workspace) and ``{c}`` (the case's own folder)
in it, the files to lay out in ``{c}`` first (``setup``), and what is expected (``refuse``,
``accept`` or ``any``). The kinds are the issue's: made-up and corrupted images, PSFs,
weights, checkpoints and config files, ``**`` globs under symbolic-link loops, huge option
values, names that are not UTF-8 or near the file-system limit.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

from benchmarks.probe_mutations import (
    ckpt_mutations,
    claims_size,
    deflated,
    flip,
    image_variants,
    psf_files,
    saved,
    weights_with,
)

TINY = ["--variant", "tiny", "--batch", "2", "--patch", "32", "--workers", "0",
        "--max-shake", "9", "--val-patch", "32", "--device", "cpu"]  # fmt: skip
WIENER = ["--method", "wiener", "--psf", "gaussian:1"]
TRAIN = ["train", "--sharp", "{ws}/photos", *TINY]
RESTORE = ["restore", "{ws}/photo.png", "-o", "{c}/out.png"]
DATASET = ["copytree", "dataset", "ds"]


class Cases(list):
    def add(self, command, category, name, argv, setup=(), expect="refuse"):
        self.append({"command": command, "category": category, "name": name[:80],
                     "argv": list(argv), "setup": [list(s) for s in setup],
                     "expect": expect})  # fmt: skip


EXPECT_CONVERT = {"legacy pickle": "accept", "zip deflated": "any"}


def _checkpoints(cases: Cases, files: Path, base: dict) -> None:
    import torch

    from deblur.training.checkpoint import FORMAT

    (files / "ckpt").mkdir()
    for i, (name, state) in enumerate(ckpt_mutations(base)):
        buf = io.BytesIO()
        torch.save({"format": FORMAT, **state}, buf)
        (files / "ckpt" / f"{i}.ckpt").write_bytes(buf.getvalue())
        expect = "accept" if name == "sound" else "any"
        setup = [["copy", f"ckpt/{i}.ckpt", "run/last.ckpt"]]
        if i % 2 == 0:  # every other one (the fuzz tests try them all, in process)
            export = ["export", "{c}/run/last.ckpt", "{c}/w.safetensors"]
            cases.add("export", "checkpoint", name, export, setup, expect)
        if i % 8 == 1:
            resume = [*TRAIN, "-o", "{c}/run", "--steps", "2", "--resume"]
            cases.add("train", "checkpoint --resume", name, resume, setup, expect)
        if i % 8 == 5 or name == "sound":
            cases.add("train", "checkpoint --init", name,
                      [*TRAIN, "--init", "{c}/run/last.ckpt", "-o", "{c}/new", "--steps", "1"],
                      setup, expect)  # fmt: skip
    # whole files that are not checkpoints, for export, --resume, --init and convert
    sound = (files / "ckpt" / "0.ckpt").read_bytes()
    pickled = io.BytesIO()
    old = dict(base, rng=dict(base["rng"], numpy=("MT19937", list(range(624)), 0, 0, 0.0)))
    torch.save(old, pickled, _use_new_zipfile_serialization=False)
    others = {
        "empty": b"",
        "text": b"hello\n",
        "truncated": sound[: len(sound) // 2],
        "bit flips": flip(sound, 40, 1),
        "legacy pickle": pickled.getvalue(),
        "zip deflated": deflated(sound),
        "zip entry claims 1 TB": claims_size(sound),
        "not a dict": saved(torch, [1, 2]),
        "no format tag": saved(torch, {k: v for k, v in base.items() if k != "format"}),
    }
    (files / "bad").mkdir()
    for name, data in others.items():
        (files / "bad" / f"{name}.ckpt").write_bytes(data)
        src = [["copy", f"bad/{name}.ckpt", "run/last.ckpt"]]
        cases.add("export", "checkpoint file", name,
                  ["export", "{c}/run/last.ckpt", "{c}/w.safetensors"], src)  # fmt: skip
        cases.add("train", "checkpoint file --resume", name,
                  [*TRAIN, "-o", "{c}/run", "--steps", "2", "--resume"], src)  # fmt: skip
        cases.add("convert-checkpoint", "file", name,
                  ["convert-checkpoint", "{c}/run/last.ckpt", "{c}/new.ckpt", "--trust"], src,
                  EXPECT_CONVERT.get(name, "refuse"))  # fmt: skip
    cases.add(
        "train",
        "checkpoint file --init",
        "truncated",
        [*TRAIN, "--init", "{ws}/bad/truncated.ckpt", "-o", "{c}/new", "--steps", "1"],
    )
    cases.add(
        "train",
        "checkpoint file --init",
        "folder",
        [*TRAIN, "--init", "{ws}/bad", "-o", "{c}/new", "--steps", "1"],
    )
    src = [["copy", "ckpt/0.ckpt", "run/last.ckpt"]]
    export = ["export", "{c}/run/last.ckpt"]
    cases.add("export", "output", "onto its own checkpoint", [*export, "{c}/run/last.ckpt"], src)
    cases.add("export", "output", "onto it with --overwrite",
              [*export, "{c}/run/last.ckpt", "--overwrite"], src)  # fmt: skip
    cases.add(
        "export", "output", "missing folder", [*export, "{c}/no/such/w.safetensors"], src, "any"
    )
    cases.add("export", "output", "exists", [*export, "{ws}/tiny.safetensors"], src)
    cases.add("export", "output", "not .safetensors", [*export, "{c}/w.txt"], src, "any")
    cases.add("export", "input", "missing", ["export", "{c}/nope.ckpt", "{c}/w.safetensors"])
    cases.add("export", "input", "a weights file", ["export", "{ws}/tiny.safetensors", "{c}/w"])
    conv = ["convert-checkpoint", "{c}/run/last.ckpt"]
    cases.add("convert-checkpoint", "options", "no --trust", [*conv, "{c}/new.ckpt"], src)
    cases.add("convert-checkpoint", "options", "onto itself", [*conv, "{c}/run/last.ckpt",
              "--trust"], src)  # fmt: skip
    cases.add("convert-checkpoint", "options", "new exists", [*conv, "{ws}/photo.png",
              "--trust"], src)  # fmt: skip
    cases.add("convert-checkpoint", "options", "missing old",
              ["convert-checkpoint", "{c}/nope", "{c}/new.ckpt", "--trust"])  # fmt: skip
    cases.add("convert-checkpoint", "options", "old is a folder",
              ["convert-checkpoint", "{ws}/photos", "{c}/new.ckpt", "--trust"])  # fmt: skip
    cases.add("convert-checkpoint", "options", "new in a missing folder",
              [*conv, "{c}/no/such/new.ckpt", "--trust"], src, "any")  # fmt: skip
    cases.add("convert-checkpoint", "options", "current format", [*conv, "{c}/new.ckpt",
              "--trust"], src, "any")  # fmt: skip


def _configs(cases: Cases, files: Path) -> None:
    from tests.test_fuzz_schemas import _all_faults

    (files / "config").mkdir()
    faults = _all_faults()
    picked = faults[::50] + [f for f in faults if f[0] in ("steps", "ckpt_every", "log_every")][::3]
    texts = [(f"{f}={v!r}", json.dumps({f: v}), "refuse") for f, v, _ in picked]
    issue = ['{"steps": 1.5}', '{"steps": "x"}', '{"steps": 1e999}', '{"lr": "x"}',
             '{"patch": "x"}', '{"grad_clip": "x"}', '{"dead_leaves": "x"}', '{"sharp": 3}',
             '{"blur": 3}', '{"ckpt_every": 0}', '{"log_every": 0}', '{"ema": 2}',
             '{"val_every": 0}', '{"out": 3}', "[" * 100_000, '{"a":' * 50_000,
             '{"blur": {"noise": ' + "[" * 5000 + "]" * 5000 + "}}", "[1]", "{", "",
             '{"steps": 1, "steps": 2}', '{"unknown_key": 1}', "nul\x00"]  # fmt: skip
    texts += [(t[:40], t, "refuse") for t in issue]
    texts += [("valid", '{"steps": 1, "log_every": 1}', "accept"), ("BOM", "\ufeff{}", "any")]
    for i, (name, text, expect) in enumerate(texts):
        (files / "config" / f"{i}.json").write_text(text)
        cases.add("train", "config file", name,
                  ["train", "--config", f"{{ws}}/config/{i}.json", "--sharp", "{ws}/photos",
                   *TINY, "-o", "{c}/run", "--steps", "1"], expect=expect)  # fmt: skip
    (files / "config" / "latin1.json").write_bytes(b'{"sharp": "caf\xe9"}')
    (files / "config" / "huge.json").write_bytes(b'{"steps": 1, "x": "' + b"a" * 30_000_000 + b'"}')
    for name in ("latin1", "huge"):
        cases.add(
            "train",
            "config file",
            f"{name}.json",
            ["train", "--config", f"{{ws}}/config/{name}.json", *TINY, "-o", "{c}/run"],
        )
    cases.add("train", "config file", "a folder", ["train", "--config", "{ws}/photos", *TINY])


def _weights(cases: Cases, files: Path) -> None:
    from deblur.models import build_model, save_weights
    from deblur.models.weights import _CONFIG_BOUNDS

    seed = save_weights(build_model("tiny"), files / "tiny.safetensors").read_bytes()
    tiny = build_model("tiny").cfg.to_dict()
    configs = [("largest bounds", {k: hi for k, (lo, hi) in _CONFIG_BOUNDS.items()}),
               ("width 1024, 64 blocks", {**tiny, "width": 1024, "res_blocks": 64}),
               ("list", [1]), ("text", "x"), ("null", None), ("deep", [[[[[[]]]]]])]  # fmt: skip
    configs += [(f"{k}={hi}", {**tiny, k: hi}) for k, (lo, hi) in _CONFIG_BOUNDS.items()]
    configs += [(f"{k}={v!r}", {**tiny, k: v}) for k in ("width", "scales")
                for v in (0, 10**9, "8", 2.5, True)]  # fmt: skip
    n = struct.unpack("<Q", seed[:8])[0]
    raw = [("empty", b""), ("header length 2**63", struct.pack("<Q", 2**63) + seed[8:]),
           ("header not JSON", struct.pack("<Q", 5) + b"{{{{{" + seed[13:]),
           ("truncated", seed[: len(seed) - 100]),
           ("tensor bytes flipped", flip(seed, 20, 2, 8 + n)),
           ("no metadata", weights_with(seed, {}).replace(b'"__metadata__"', b'"__metadatX__"')),
           ("header deep nesting", struct.pack("<Q", 200_000) + b"[" * 200_000 + seed[8 + n :]),
           ]  # fmt: skip
    (files / "weights").mkdir()
    blobs = [(name, weights_with(seed, cfg)) for name, cfg in configs] + raw
    for i, (name, blob) in enumerate(blobs):
        (files / "weights" / f"{i}.safetensors").write_bytes(blob)
        cases.add("restore", "weights", name,
                  [*RESTORE, "--weights", f"{{ws}}/weights/{i}.safetensors"])  # fmt: skip
        if i < 6 or name in ("truncated", "tensor bytes flipped"):
            cases.add("train", "weights --init", name,
                      [*TRAIN, "--init", f"{{ws}}/weights/{i}.safetensors", "-o", "{c}/run",
                       "--steps", "1"])  # fmt: skip
    cases.add("benchmark", "weights", "largest bounds",
              ["benchmark", "{ws}/dataset", "--method", "net", "--weights",
               "{ws}/weights/0.safetensors"])  # fmt: skip
    for name, card in (("list", "[1, 2]"), ("training 3", '{"training": 3}'), ("junk", "{"),
                       ("deep", "[" * 100_000)):  # fmt: skip
        setup = [["copy", "tiny.safetensors", "w.safetensors"], ["write", "w.json", card]]
        cases.add("train", "model card", name,
                  [*TRAIN, "--init", "{c}/w.safetensors", "-o", "{c}/run", "--steps", "1"],
                  setup)  # fmt: skip


def _images(cases: Cases, files: Path) -> None:
    (files / "img").mkdir()
    for name, data, expect in image_variants(files / "photo.png"):
        (files / "img" / name).write_bytes(data)
        setup = [["copy", f"img/{name}", f"in/{name}"]]
        cases.add("restore", "image", name, ["restore", f"{{c}}/in/{name}", *WIENER, "-o",
                  "{c}/out/"], setup, expect)  # fmt: skip
    for name in ("truncated.png", "bitflip0.png", "huge-claim.png", "text.jpg", "empty.tif"):
        setup = [["copy", "photo.png", "in/ok.png"], ["copy", f"img/{name}", f"in/{name}"]]
        cases.add("blur", "image", name, ["blur", "{c}/in", "-o", "{c}/ds"], setup, "any")
        cases.add("train", "image", name,
                  ["train", "--sharp", "{c}/in", *TINY, "-o", "{c}/run", "--steps", "1"],
                  setup, "any")  # fmt: skip
        bad = [DATASET, ["copy", f"img/{name}", "ds/blur/p0.png"]]
        cases.add("benchmark", "image", f"blur/{name}", ["benchmark", "{c}/ds", "-m", "none"],
                  bad, "any")  # fmt: skip
    special = [("a folder named x.png", [["mkdir", "in/x.png"]]),
               ("a FIFO named x.png", [["fifo", "in/x.png"]]),
               ("a link to /dev/zero", [["link", "/dev/zero", "in/x.png"]]),
               ("a dangling link", [["link", "{c}/nowhere.png", "in/x.png"]])]  # fmt: skip
    for name, setup in special:
        cases.add("restore", "image", name, ["restore", "{c}/in/x.png", *WIENER, "-o",
                  "{c}/o.png"], setup)  # fmt: skip
        cases.add("blur", "image", name, ["blur", "{c}/in/x.png", "-o", "{c}/ds"], setup)
    cases.add("restore", "image", "unreadable (mode 000)",
              ["restore", "{c}/in/x.png", *WIENER, "-o", "{c}/o.png"],
              [["copy", "photo.png", "in/x.png"], ["chmod", "in/x.png", "0"]], "any")  # fmt: skip


def _psfs(cases: Cases, files: Path) -> None:
    (files / "psf").mkdir()
    for name, data in psf_files():
        (files / "psf" / name).write_bytes(data)
        cases.add("restore", "PSF file", name,
                  ["restore", "{ws}/photo.png", "-m", "rl", "--psf", f"{{ws}}/psf/{name}", "-o",
                   "{c}/o.png"])  # fmt: skip
    for name in ("pickle.npy", "header-huge.npy", "ragged.txt"):
        cases.add("blur", "PSF file", name, ["blur", "{ws}/photos", "-o", "{c}/ds", "--psf",
                  f"{{ws}}/psf/{name}"])  # fmt: skip
        bad = [DATASET, ["copy", f"psf/{name}", "ds/psf/p0.npy"]]
        cases.add("benchmark", "PSF file", name, ["benchmark", "{c}/ds", "-m", "rl"], bad)
    specs = ["gaussian:inf", "gaussian:1e308", "gaussian:-1", "gaussian:", "motion:1e9,0",
             "motion:5,nan", "shake:100000,1", "shake:9,-1", "disk:0", "disk:1e6", "auto:0",
             "auto:100000", "nope:1", "x" * 5000, "gaussian:1\x00", "../../../etc/passwd",
             "{ws}/photos", "{ws}/nope.npy"]  # fmt: skip
    for spec in specs:
        cases.add(
            "restore",
            "PSF spec",
            spec[:40].replace("\x00", "\\0"),
            ["restore", "{ws}/photo.png", "-m", "wiener", "--psf", spec, "-o", "{c}/o.png"],
        )
    for spec in ("gaussian:inf", "shake:100000,1", "x" * 5000):
        cases.add("blur", "PSF spec", spec[:40], ["blur", "{ws}/photos", "-o", "{c}/ds",
                  "--psf", spec])  # fmt: skip


def _datasets(cases: Cases) -> None:
    run = ["benchmark", "{c}/ds", "-m", "none,wiener"]
    layouts = [("no sharp/", [DATASET, ["rmtree", "ds/sharp"]]),
               ("empty blur/", [DATASET, ["rmtree", "ds/blur"], ["mkdir", "ds/blur"]]),
               ("sizes differ", [DATASET, ["copy", "img/small.png", "ds/sharp/p0.png"]]),
               ("blur/ is a file", [DATASET, ["rmtree", "ds/blur"], ["write", "ds/blur", "x"]]),
               ("no psf for one", [DATASET, ["remove", "ds/psf/p0.npy"]]),
               ("a text file in blur/", [DATASET, ["write", "ds/blur/notes.png", "hi"]]),
               ("not UTF-8 name", [DATASET, ["rename", "ds/blur/p1.png", b"ds/blur/\xff.png"]]),
               ("loop under blur/", [DATASET, ["link", "{c}/ds", "ds/blur/up"]])]  # fmt: skip
    for name, setup in layouts:
        cases.add("benchmark", "dataset", name, run, setup, "any")
    cases.add("benchmark", "dataset", "not a folder", ["benchmark", "{ws}/photo.png"])
    cases.add("benchmark", "dataset", "missing", ["benchmark", "{c}/nope"])
    for opt, v in (("--method", "nope"), ("--method", ""), ("--crop", str(10**9)),
                   ("--shift", str(10**9)), ("--iterations", "1000000"), ("--nsr", "nan"),
                   ("--threads", "100000"), ("--json", "{c}/ds/sharp/p0.png"),
                   ("--csv", "{c}/no/such/r.csv"), ("--max-pixels", "1")):  # fmt: skip
        cases.add("benchmark", "option", f"{opt} {v[:20]}", [*run, opt, v], [DATASET],
                  "any" if opt in ("--threads", "--csv") else "refuse")  # fmt: skip
    pairs = [
        ("missing files", "a.png b.png\n"),
        ("one column", "a.png\n"),
        ("not UTF-8", b"\xff\xfe a b\n"),
        ("absolute", "/etc/passwd /etc/passwd\n"),
    ]
    for name, text in pairs:
        op = "writeb" if isinstance(text, bytes) else "write"
        cases.add("train", "pair list", name, ["train", "--pairs", "{c}/pairs.txt", *TINY, "-o",
                  "{c}/run", "--steps", "1"], [[op, "pairs.txt", text]])  # fmt: skip


def _loops(cases: Cases) -> None:
    loops = [["mkdir", "d/x/y"], ["copy", "photo.png", "d/a.png"],
             ["copy", "photo.png", "d/x/y/b.png"], ["link", "{c}/d", "d/x/up"],
             ["link", "{c}/d", "d/x/y/up"], ["link", "{c}/d/x", "d/x/self"]]  # fmt: skip
    glob = "{c}/d/**/*.png"
    cases.add("restore", "glob loop", "**/*.png", ["restore", glob, *WIENER, "-o", "{c}/o/"],
              loops, "accept")  # fmt: skip
    cases.add("restore", "glob loop", "**", ["restore", "{c}/d/**", *WIENER, "-o", "{c}/o/"],
              loops, "accept")  # fmt: skip
    cases.add("restore", "glob loop", "-r folder", ["restore", "{c}/d", "-r", *WIENER, "-o",
              "{c}/o/"], loops, "accept")  # fmt: skip
    cases.add("blur", "glob loop", "**/*.png", ["blur", glob, "-o", "{c}/ds"], loops, "accept")
    cases.add("blur", "glob loop", "-r folder", ["blur", "{c}/d", "-r", "-o", "{c}/ds"], loops,
              "accept")  # fmt: skip
    cases.add(
        "train",
        "glob loop",
        "--sharp **/*.png",
        ["train", "--sharp", glob, *TINY, "-o", "{c}/run", "--steps", "1"],
        loops,
        "accept",
    )
    cases.add(
        "train",
        "glob loop",
        "--sharp folder",
        ["train", "--sharp", "{c}/d", *TINY, "-o", "{c}/run", "--steps", "1"],
        loops,
        "any",
    )


def _options(cases: Cases) -> None:
    for v in ("0", "-1", "1", "100000", str(10**20), "x"):
        expect = "accept" if v in ("1", "100000") else "refuse"
        cases.add("restore", "option", f"--threads {v}", [*RESTORE, *WIENER, "--threads", v],
                  expect=expect)  # fmt: skip
    cases.add("blur", "option", "--threads 100000 (not an option)",
              ["blur", "{ws}/photos", "-o", "{c}/ds", "--threads", "100000"])  # fmt: skip
    rl = [*RESTORE, "--method", "rl", "--psf", "gaussian:1", "--iterations"]
    for v in ("0", "-1", "10001", "1000000", str(10**30), "nan"):
        cases.add("restore", "option", f"--iterations {v}", [*rl, v])
    for opt, v in (("--tile", "1"), ("--tile", str(10**9)), ("--tile-overlap", str(10**9)),
                   ("--max-pixels", "1"), ("--max-pixels", "0"), ("--quality", "0"),
                   ("--ext", "gif"), ("--strength", "nan"), ("--nsr", "0"), ("--nsr", "inf"),
                   ("--suffix", "/x"), ("--device", "cuda"), ("--json", "{ws}/photo.png"),
                   ("--save-psf", "{ws}/photo.png"), ("-o", "{ws}/photo.png"),
                   ("--boundary", "nope")):  # fmt: skip
        method = ["-m", "net"] if opt.startswith("--tile") else WIENER
        expect = "any" if opt in ("--tile", "--device", "--save-psf") else "refuse"
        cases.add("restore", "option", f"{opt} {v[-20:]}",
                  ["restore", "{ws}/photo.png", *method, "-o", "{c}/o.png", opt, v] if opt != "-o"
                  else ["restore", "{ws}/photo.png", *WIENER, "-o", v], expect=expect)  # fmt: skip
    cases.add(
        "restore",
        "option",
        "--suffix '' beside the input",
        ["restore", "{c}/p.png", *WIENER, "--suffix", ""],
        [["copy", "photo.png", "p.png"]],
    )
    blur = ["blur", "{ws}/photos", "-o", "{c}/ds"]
    for opt, v in (("--shake", "0,0"), ("--shake", "1000000,1000001"), ("--shake", "9,x"),
                   ("--noise", "nan"), ("--noise", "inf"), ("--seed", "-1"),
                   ("--seed", str(2**64)), ("--per-image", "0"), ("-o", "{ws}/photo.png"),
                   ("--max-pixels", "1")):  # fmt: skip
        cases.add(
            "blur",
            "option",
            f"{opt} {v[-20:]}",
            [*blur, opt, v] if opt != "-o" else ["blur", "{ws}/photos", "-o", v],
            expect="any" if opt == "--seed" else "refuse",
        )
    train = [*TRAIN, "-o", "{c}/run", "--steps", "1"]
    for opt, v in (("--workers", str(10**6)), ("--batch", str(10**9)), ("--patch", str(10**6)),
                   ("--steps", "0"), ("--lr", "nan"), ("--lr", "0"), ("--ema", "1"),
                   ("--val-every", "0"), ("--seed", "-1"), ("--seed", str(2**64)),
                   ("--max-shake", str(10**6)), ("--max-noise", "inf"), ("--threads", "100000"),
                   ("--ckpt-every", "0"), ("--variant", "nope"), ("--precision", "fp16"),
                   ("--time-limit", "0"), ("--warmup", "-1"), ("--dead-leaves", "2"),
                   ("--data-root", "{c}/nope"), ("--val", "{ws}/photos")):  # fmt: skip
        expect = "accept" if opt == "--threads" else "refuse"
        cases.add("train", "option", f"{opt} {v[-20:]}", [*train, opt, v], expect=expect)
    cases.add("train", "option", "-o onto a file", [*TRAIN, "-o", "{ws}/photo.png"])
    cases.add("train", "option", "no data", ["train", *TINY, "-o", "{c}/run"])


def _names(cases: Cases) -> None:
    latin = os.fsdecode(b"caf\xe9-\xff.png")
    named = [["mkdir", "in"], ["copy", "photo.png", f"in/{latin}"]]
    ok = "accept"
    cases.add("restore", "file name", "not UTF-8, file", ["restore", f"{{c}}/in/{latin}",
              *WIENER], named, ok)  # fmt: skip
    cases.add("restore", "file name", "not UTF-8, folder", ["restore", "{c}/in", *WIENER, "-o",
              "{c}/o/"], named, ok)  # fmt: skip
    cases.add("restore", "file name", "not UTF-8, glob", ["restore", "{c}/in/*.png", *WIENER,
              "-o", "{c}/o/"], named, ok)  # fmt: skip
    cases.add("restore", "file name", "not UTF-8, --json", ["restore", "{c}/in", *WIENER, "-o",
              "{c}/o/", "--json", "{c}/r.json"], named, ok)  # fmt: skip
    cases.add("blur", "file name", "not UTF-8", ["blur", "{c}/in", "-o", "{c}/ds"], named, ok)
    cases.add("train", "file name", "not UTF-8", ["train", "--sharp", "{c}/in", *TINY, "-o",
              "{c}/run", "--steps", "1"], named, ok)  # fmt: skip
    for n in (240, 245, 246, 250, 251):
        stem = "b" * n
        cases.add("restore", "file name", f"{n + 4}-byte name", ["restore", f"{{c}}/{stem}.png",
                  *WIENER], [["copy", "photo.png", f"{stem}.png"]], "any")  # fmt: skip
    cases.add("blur", "file name", "251-byte name", ["blur", "{c}/in", "-o", "{c}/ds"],
              [["copy", "photo.png", "in/" + "b" * 247 + ".png"]], "any")  # fmt: skip
    cases.add("restore", "file name", "256-byte name", ["restore", "{c}/" + "b" * 252 + ".png",
              *WIENER])  # fmt: skip
    cases.add("restore", "file name", "-o 300 bytes", [*RESTORE[:2], *WIENER, "-o",
              "{c}/" + "o" * 296 + ".png"])  # fmt: skip
    cases.add("restore", "file name", "path of 5000 bytes", ["restore", "{c}/" + "a/" * 2500,
              *WIENER])  # fmt: skip
    cases.add("restore", "file name", "NUL byte", ["restore", "{c}/a\x00b.png", *WIENER])
    cases.add("restore", "file name", "newline in name", ["restore", "{c}/a\nb.png", *WIENER],
              [["copy", "photo.png", "a\nb.png"]], ok)  # fmt: skip


def make_cases(files: Path, base: dict) -> list[dict]:
    """Write the inputs under ``files`` (which holds ``photos/``, ``photo.png`` and
    ``dataset/``) and return the cases; ``base`` is a sound checkpoint's dict."""
    cases = Cases()
    _checkpoints(cases, files, base)
    _configs(cases, files)
    _weights(cases, files)
    _images(cases, files)
    _psfs(cases, files)
    _datasets(cases)
    _loops(cases)
    _options(cases)
    _names(cases)
    return list(cases)
