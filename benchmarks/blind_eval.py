"""Quality of blind PSF estimation (:func:`deblur.restoration.blind.estimate_psf`).

For each blurred set made by ``python -m benchmarks.quality make`` (``benchmarks/data/<split>/
<set>/{blur,sharp,psf}``) and each photo: estimate the PSF from the blurred photo, restore
it with Richardson-Lucy (30 iterations, reflect boundary, clipped, in colour) using that
estimate ("RL-auto") and using the true PSF ("RL-true"), and report

- the PSNR gain of each over the blurred input (dB, RGB, :func:`deblur.metrics.psnr`);
- the normalised cross-correlation (NCC) of the estimated and true PSFs: kernels
  zero-padded to a common size with their centres ``(h // 2, w // 2)`` aligned, best over
  integer shifts of up to 3 px.

The same estimate and the true PSF also go through the hyper-Laplacian / TV deconvolution
(:func:`deblur.restoration.hqs.hqs_deconv`, "HQS-auto" / "HQS-true"), at each setting of
``--hqs WEIGHT[:ALPHA]`` (repeatable, for tuning sweeps; the first one is tabled; default
the library's default). ``--cache DIR`` keeps each estimate (and the seconds it took) in
``DIR/<split>/<set>/<stem>.npz`` so that sweeps of the non-blind step do not re-estimate;
the cache key holds the size and the estimator's parameters, not its code: clear it when
the estimator changes.

Safety check: the sharp photos themselves go through estimate + RL (and HQS); reported are
the PSNR of the result against the photo and the share of the estimate's mass in its
central 3x3.

Tune on the validation split (the default) only; ``--test`` gives the final report.
Writes ``benchmarks/results/blind_<split>.json`` (or ``--out``) and prints a table.

Run: ``python -m benchmarks.blind_eval [--test] [--size 45] [--threads 1] [--hqs 6e-4:1]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

DATA = HERE / "data"
RESULTS = HERE / "results"
SETS = ["a_shake", "b_gaussian", "c_disk", "d_motion"]
RL_ITERATIONS = 30
SHIFT = 3


def ncc(a: np.ndarray, b: np.ndarray, shift: int = SHIFT) -> float:
    """Best normalised cross-correlation of two kernels over integer shifts up to ``shift``."""
    n = max(a.shape + b.shape) + 2 * shift + 2
    n += 1 - n % 2

    def place(k):
        z = np.zeros((n, n))
        oy, ox = n // 2 - k.shape[0] // 2, n // 2 - k.shape[1] // 2
        z[oy : oy + k.shape[0], ox : ox + k.shape[1]] = k
        return z / np.linalg.norm(z)

    A, B = place(a), place(b)
    return max(
        float((A * np.roll(B, (dy, dx), (0, 1))).sum())
        for dy in range(-shift, shift + 1)
        for dx in range(-shift, shift + 1)
    )


def central_mass(k: np.ndarray) -> float:
    cy, cx = k.shape[0] // 2, k.shape[1] // 2
    return float(k[max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2].sum() / k.sum())


def extent(k: np.ndarray) -> int:
    ys, xs = np.nonzero(k > 1e-3 * k.max())
    return int(max(np.ptp(ys), np.ptp(xs))) + 1


def hqs_label(weight: float, alpha: float) -> str:
    return f"{weight:g}:{alpha:.3g}"


def _estimator(size, params, cache: Path | None, key: str):
    """``estimate(image) -> (psf, seconds)``, read from / written to the cache when given."""
    from deblur.restoration.blind import estimate_psf

    tag = json.dumps([size, params], sort_keys=True)

    def estimate(img, stem: str):
        f = None if cache is None else cache / key / f"{stem}.npz"
        if f is not None and f.is_file():
            z = np.load(f)
            if str(z["tag"]) == tag:
                return z["psf"], float(z["seconds"])
        t = time.perf_counter()
        est = estimate_psf(img, size, **params)
        sec = time.perf_counter() - t
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, psf=est, seconds=sec, tag=tag)
        return est, sec

    return estimate


def evaluate(
    split: str,
    sets: list[str],
    size: int | None,
    params: dict,
    photos=None,
    hqs: list[tuple[float, float]] | None = None,
    cache: Path | None = None,
) -> dict:
    from deblur.errors import PSFError
    from deblur.io import load_image
    from deblur.metrics import psnr
    from deblur.restoration.classical import richardson_lucy
    from deblur.restoration.hqs import HQS_ALPHA, HQS_WEIGHT, hqs_deconv

    hqs = hqs or [(HQS_WEIGHT, HQS_ALPHA)]

    def rl(img, k):
        return richardson_lucy(img, k, RL_ITERATIONS, boundary="reflect", clip=True)

    def hqs_gains(img, k, sharp, base):
        return {
            hqs_label(w, a): psnr(hqs_deconv(img, k, w, alpha=a, boundary="reflect"), sharp) - base
            for w, a in hqs
        }

    out: dict = {
        "split": split,
        "size": size,
        "params": params,
        "rl_iterations": RL_ITERATIONS,
        "hqs_settings": [hqs_label(w, a) for w, a in hqs],
        "sets": {},
        "safety": [],
    }
    for name in sets:
        root = DATA / split / name
        if not root.is_dir():
            sys.exit(f"{root} missing: run `python benchmarks/quality.py make` first")
        rows = []
        estimate = _estimator(size, params, cache, f"{split}/{name}")
        for f in sorted((root / "blur").glob("*.png")):
            if photos and f.stem not in photos:
                continue
            blur, sharp = load_image(f), load_image(root / "sharp" / f.name)
            true = np.load(root / "psf" / (f.stem + ".npy"))
            base = psnr(blur, sharp)
            row = {
                "photo": f.stem,
                "true_size": list(true.shape),
                "true_extent": extent(true),
                "blurred_psnr": base,
                "rl_true_gain": psnr(rl(blur, true), sharp) - base,
                "hqs_true_gain": hqs_gains(blur, true, sharp, base),
            }
            try:
                est, row["seconds"] = estimate(blur, f.stem)
            except PSFError as e:  # counted as "no restoration": gain 0
                zero = {label: 0.0 for label in row["hqs_true_gain"]}
                row.update(error=str(e), seconds=0.0, rl_auto_gain=0.0, ncc=0.0, hqs_auto_gain=zero)
                print(f"  {name} {f.stem}: PSFError {e}", flush=True)
                rows.append(row)
                continue
            row["rl_auto_gain"] = psnr(rl(blur, est), sharp) - base
            row["hqs_auto_gain"] = hqs_gains(blur, est, sharp, base)
            row.update(ncc=ncc(est, true), est_size=list(est.shape), est_extent=extent(est))
            rows.append(row)
            msg = (
                f"true {row['true_extent']:2d} px, est {row['est_extent']:2d} px, NCC "
                f"{row['ncc']:.3f}, RL-auto {row['rl_auto_gain']:+.2f} dB, RL-true "
                f"{row['rl_true_gain']:+.2f} dB, HQS-auto "
                + "/".join(f"{g:+.2f}" for g in row["hqs_auto_gain"].values())
                + " HQS-true "
                + "/".join(f"{g:+.2f}" for g in row["hqs_true_gain"].values())
                + f" ({row['seconds']:.1f} s)"
            )
            print(f"  {name} {f.stem}: {msg}", flush=True)
        keys = ("rl_auto_gain", "rl_true_gain", "ncc", "seconds", "blurred_psnr")
        mean = {key: float(np.mean([r[key] for r in rows])) for key in keys}
        mean["worst_rl_auto_gain"] = float(min(r["rl_auto_gain"] for r in rows))
        mean["failures"] = sum("error" in r for r in rows)
        for kind in ("hqs_auto_gain", "hqs_true_gain"):
            mean[kind] = {
                lab: float(np.mean([r[kind][lab] for r in rows])) for lab in rows[0][kind]
            }
        mean["worst_hqs_auto_gain"] = {
            lab: float(min(r["hqs_auto_gain"][lab] for r in rows))
            for lab in rows[0]["hqs_auto_gain"]
        }
        out["sets"][name] = {"mean": mean, "photos": rows}
    sharp_dir = DATA / split / sets[0] / "sharp"
    estimate = _estimator(size, params, cache, f"{split}/sharp")
    for f in sorted(sharp_dir.glob("*.png")):
        if photos and f.stem not in photos:
            continue
        sharp = load_image(f)
        try:
            est, _ = estimate(sharp, f.stem)
        except PSFError as e:
            out["safety"].append({"photo": f.stem, "error": str(e)})
            print(f"  sharp {f.stem}: PSFError {e}", flush=True)
            continue
        row = {
            "photo": f.stem,
            "psnr": psnr(rl(sharp, est), sharp),
            "hqs_psnr": {
                hqs_label(w, a): psnr(hqs_deconv(sharp, est, w, alpha=a), sharp) for w, a in hqs
            },
            "central_mass": central_mass(est),
            "est_size": list(est.shape),
        }
        out["safety"].append(row)
        print(
            f"  sharp {f.stem}: {row['psnr']:.2f} dB, central 3x3 {row['central_mass']:.1%}",
            flush=True,
        )
    return out


def _db(v: float) -> str:
    return "inf dB (unchanged)" if np.isinf(v) else f"{v:.2f} dB"


def table(res: dict) -> str:
    labels = res["hqs_settings"]
    lines = [
        f"Blind PSF estimation, {res['split']} split, size {res['size'] or 'default'}, "
        f"RL {res['rl_iterations']} iterations (PSNR gain over the blurred input, dB)",
        "",
        f"HQS: hyper-Laplacian/TV deconvolution, weight:alpha {labels[0]}",
        "",
        "| set | photos | RL-auto gain | worst | RL-true gain | HQS-auto gain | worst |"
        " HQS-true gain | PSF NCC | est. s/photo |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in res["sets"].items():
        m = s["mean"]
        lines.append(
            f"| {name} | {len(s['photos'])} | {m['rl_auto_gain']:+.2f} | "
            f"{m['worst_rl_auto_gain']:+.2f} | {m['rl_true_gain']:+.2f} | "
            f"{m['hqs_auto_gain'][labels[0]]:+.2f} | {m['worst_hqs_auto_gain'][labels[0]]:+.2f} | "
            f"{m['hqs_true_gain'][labels[0]]:+.2f} | {m['ncc']:.3f} | {m['seconds']:.2f} |"
        )
    if len(labels) > 1:
        lines += ["", "HQS sweep, mean gain auto / true (dB):", ""]
        lines.append("| weight:alpha | " + " | ".join(res["sets"]) + " | all sets |")
        lines.append("|---" * (len(res["sets"]) + 2) + "|")
        for lab in labels:
            cells, allg = [], []
            for s in res["sets"].values():
                a, t = s["mean"]["hqs_auto_gain"][lab], s["mean"]["hqs_true_gain"][lab]
                cells.append(f"{a:+.2f} / {t:+.2f}")
                allg.append((a, t))
            a, t = np.mean(allg, axis=0)
            lines.append(f"| {lab} | " + " | ".join(cells) + f" | {a:+.2f} / {t:+.2f} |")
    ok = [r for r in res["safety"] if "error" not in r]
    if res["safety"]:
        lines += [
            "",
            f"Sharp photos through estimate + RL: {len(ok)} of {len(res['safety'])} "
            "estimated"
            + (
                f"; PSNR vs themselves min {min(r['psnr'] for r in ok):.2f} / "
                f"mean {np.mean([r['psnr'] for r in ok]):.2f} dB; with HQS {labels[0]} min "
                f"{_db(min(r['hqs_psnr'][labels[0]] for r in ok))}; central 3x3 mass min "
                f"{min(r['central_mass'] for r in ok):.1%}"
                if ok
                else ""
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", action="store_true", help="final report on the test split")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--photos", default="", help="comma-separated stems (default: all)")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--param", action="append", default=[], help="NAME=VALUE for estimate_psf")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--hqs", action="append", default=[], help="WEIGHT[:ALPHA] for hqs_deconv")
    ap.add_argument("--cache", type=Path, default=None, help="folder keeping the estimates")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    params = {}
    for p in a.param:
        k, v = p.split("=", 1)
        params[k] = int(v) if v.lstrip("-").isdigit() else float(v)
    split = "test" if a.test else "val"
    photos = set(filter(None, a.photos.split(",")))
    hqs = []
    for h in a.hqs:
        w, _, al = h.partition(":")
        hqs.append((float(w), float(al) if al else 1.0))
    res = evaluate(split, a.sets.split(","), a.size, params, photos, hqs, a.cache)
    s = table(res)
    out = a.out or RESULTS / f"blind_{split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    if a.out is None:
        (RESULTS / f"blind_{split}.md").write_text(s + "\n")
    print(s)


if __name__ == "__main__":
    main()
