"""Quality benchmark of the shipped model against Wiener and Richardson-Lucy given the true PSF.

Steps (each a sub-command; ``all`` runs them in order):

``make``   test sets from the 18 McMaster photos and validation sets from the 8 validation
           CBSD68 photos, each made by ``deblur blur`` with a fixed seed:
           (a) camera shake 11-31 px, (b) Gaussian sigma 2, (c) disk radius 4,
           (d) linear motion 21 px at 45 degrees; all with 1% Gaussian noise.
``tune``   RL iterations and Wiener NSR tuned per blur family on the validation sets
           (best mean PSNR over a grid), written to ``results/baselines.json``.
``run``    ``deblur benchmark`` on each test set with none, wiener, rl (tuned, true PSF) and
           net (blind), JSON per set in ``results/quality_<set>.json``.
``table``  the README's results table (Markdown) from that JSON, to ``results/quality.md``
           and into README.md between its ``results:begin``/``results:end`` markers.
``sizes``  (not in ``all``) per-photo PSNR gains over the blurred input on the camera-shake
           set, sorted by the extent of each photo's true PSF: where does the network
           stand against RL as the blur grows?

The photos come from ``../shared/data/photos`` (never copied into the project); the sets
are written under ``benchmarks/data/`` (ignored by git).

Run: ``python -m benchmarks.quality all``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parent.parent / "shared" / "data" / "photos"
DATA = HERE / "data"
RESULTS = HERE / "results"

#: The 8 validation photos (fixed by name): never used for training or testing.
VALIDATION = [
    "cbsd68_101085.png", "cbsd68_101087.png", "cbsd68_102061.png", "cbsd68_103070.png",
    "cbsd68_105025.png", "cbsd68_106024.png", "cbsd68_108005.png", "cbsd68_108070.png",
]  # fmt: skip
SETS = {
    "a_shake": ["--shake", "11,31"],
    "b_gaussian": ["--psf", "gaussian:2"],
    "c_disk": ["--psf", "disk:4"],
    "d_motion": ["--psf", "motion:21,45"],
}
NOISE = "0.01"
SEED = "2026"
RL_GRID = [5, 10, 15, 20, 30, 50, 80, 120, 200]
NSR_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def deblur(*args: str) -> None:
    cmd = [sys.executable, "-m", "deblur", *args]
    print("$ deblur " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def test_photos() -> list[str]:
    return sorted(str(p) for p in PHOTOS.glob("mcmaster_*.png"))


def make() -> None:
    tests = test_photos()
    if len(tests) != 18:
        sys.exit(f"expected 18 McMaster photos in {PHOTOS}, found {len(tests)}")
    vals = [str(PHOTOS / n) for n in VALIDATION]
    for name, blur in SETS.items():
        for split, photos in (("test", tests), ("val", vals)):
            out = DATA / split / name
            if out.exists():
                print(f"{out} exists, kept")
                continue
            deblur("blur", *photos, "-o", str(out), *blur, "--noise", NOISE, "--seed", SEED)


def _bench(dataset: Path, methods: str, out_json: Path, *extra: str) -> dict:
    deblur("benchmark", str(dataset), "--method", methods, "--json", str(out_json), *extra)
    return json.loads(out_json.read_text())


def tune() -> None:
    from deblur.evaluate import run_benchmark

    RESULTS.mkdir(exist_ok=True)
    best: dict[str, dict] = {}
    for name in SETS:
        val = DATA / "val" / name
        rl = {it: run_benchmark(val, "rl", iterations=it)["mean"]["rl"]["psnr"] for it in RL_GRID}
        wi = {n: run_benchmark(val, "wiener", nsr=n)["mean"]["wiener"]["psnr"] for n in NSR_GRID}
        best[name] = {
            "rl_iterations": max(rl, key=rl.get),
            "wiener_nsr": max(wi, key=wi.get),
            "rl_val_psnr": rl,
            "wiener_val_psnr": {str(k): v for k, v in wi.items()},
        }
        b = best[name]
        print(
            f"{name}: RL {b['rl_iterations']} it (val {max(rl.values()):.2f} dB), "
            f"Wiener NSR {b['wiener_nsr']} (val {max(wi.values()):.2f} dB)",
            flush=True,
        )
    (RESULTS / "baselines.json").write_text(json.dumps(best, indent=2) + "\n")


def run(weights: str | None) -> None:
    tuned = json.loads((RESULTS / "baselines.json").read_text())
    extra = ["--weights", weights] if weights else []
    for name in SETS:
        t = tuned[name]
        test = DATA / "test" / name
        # Wiener and RL take different settings: one benchmark call each, merged
        parts = [
            _bench(test, "none,net", DATA / f"{name}_net.json", *extra),
            _bench(test, "wiener", DATA / f"{name}_w.json", "--nsr", str(t["wiener_nsr"])),
            _bench(test, "rl", DATA / f"{name}_rl.json", "--iterations", str(t["rl_iterations"])),
        ]
        merged = {
            "set": name,
            "tuned": t,
            "settings": parts[0]["settings"],
            "mean": {},
            "images": [],
        }
        for p in parts:
            merged["mean"].update(p["mean"])
            merged["images"] += p["images"]
        (RESULTS / f"quality_{name}.json").write_text(json.dumps(merged, indent=2) + "\n")


def table() -> str:
    rows = [
        "| test set (McMaster, 18 photos, 1% noise) | blurred | Wiener (true PSF) "
        "| RL (true PSF) | network (blind) | network below blurred (worst) |",
        "|---|---|---|---|---|---|",
    ]
    secs = {}
    for name in SETS:
        r = json.loads((RESULTS / f"quality_{name}.json").read_text())
        m = r["mean"]
        t = r["tuned"]
        cells = []
        for meth in ("none", "wiener", "rl", "net"):
            cells.append(f"{m[meth]['psnr']:.2f} dB / {m[meth]['ssim']:.4f}")
            secs.setdefault(meth, []).append(m[meth]["seconds"])
        gain = _gains(r)
        worse = [g["net"] for g in gain.values() if g["net"] < 0]
        cells.append(f"{len(worse)} of {len(gain)}" + (f" ({min(worse):+.2f} dB)" if worse else ""))
        label = f"{name} (RL {t['rl_iterations']} it, NSR {t['wiener_nsr']:g})"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    s = "\n".join(rows)
    s += "\n\nPSNR / SSIM: RGB, data range 1, no border crop, no shift. Seconds per 500x500 image: "
    s += ", ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in secs.items()) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.md").write_text(s)
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        readme.write_text(head + begin + "\n" + s + end + rest.split(end, 1)[1])
    print(s)
    return s


def _gains(result: dict) -> dict[str, dict[str, float]]:
    """Photo -> method -> PSNR gain over the blurred input (dB), from a quality JSON."""
    psnr: dict[str, dict[str, float]] = {}
    for e in result["images"]:
        psnr.setdefault(e["key"], {})[e["method"]] = e["psnr"]
    return {k: {m: v - p["none"] for m, v in p.items() if m != "none"} for k, p in psnr.items()}


def sizes(name: str = "a_shake") -> None:
    import numpy as np

    gains = _gains(json.loads((RESULTS / f"quality_{name}.json").read_text()))
    rows = []
    for key, g in gains.items():
        k = np.load(DATA / "test" / name / "psf" / (Path(key).stem + ".npy"))
        ys, xs = np.nonzero(k > 1e-3 * k.max())
        extent = int(max(np.ptp(ys), np.ptp(xs))) + 1
        rows.append((extent, key, g))
    print("PSF extent (px) | photo | net | RL | Wiener  (PSNR gain over blurred, dB)")
    for extent, key, g in sorted(rows):
        print(f"{extent:3d} | {key} | {g['net']:+.2f} | {g['rl']:+.2f} | {g['wiener']:+.2f}")
    ext = np.array([r[0] for r in rows], float)
    for m in ("net", "rl"):
        v = np.array([r[2][m] for r in rows])
        corr = np.corrcoef(ext, v)[0, 1]
        print(f"{m}: mean gain {v.mean():+.2f} dB, correlation with PSF extent {corr:+.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["make", "tune", "run", "table", "all", "sizes"])
    ap.add_argument("--weights", help="weights file for the network (default: shipped)")
    a = ap.parse_args()
    if a.step in ("make", "all"):
        make()
    if a.step in ("tune", "all"):
        tune()
    if a.step in ("run", "all"):
        run(a.weights)
    if a.step in ("table", "all"):
        table()
    if a.step == "sizes":
        sizes()


if __name__ == "__main__":
    main()
