"""The web app of ``deblur serve`` (FastAPI): one static page and a small JSON API.

API (every error is JSON ``{"error": "one line"}`` with a 4xx status):

``GET /api/options``
    Methods, defaults and limits, for the page.
``POST /api/jobs?name=NAME&method=M&strength=S&psf=SPEC&guard=true``
    The photo itself is the request body (``Content-Type: application/octet-stream`` or
    ``image/*``). Refused with 413 when ``Content-Length`` or the bytes received pass the
    upload limit (before anything is decoded), 400 when the options or the file are bad,
    429 when too many photos are waiting. Answers 202 with the job (see ``GET``).
``GET /api/jobs/ID``
    The job: ``state`` (queued, running, done, failed), ``ahead`` (photos before it),
    ``elapsed_s`` and ``estimate_s`` (for the progress bar), ``note`` (the result check's
    verdict), ``error``.
``GET /api/jobs/ID/before``, ``/after``, ``/result``; ``DELETE /api/jobs/ID``
    The previews, the restored file (a download named ``STEM_deblurred.EXT``), and
    removing the job and its files.
"""

from __future__ import annotations

import math
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from deblur.constants import METHODS
from deblur.serve.jobs import BadUpload, Job, JobQueue, QueueFull

__all__ = ["DEFAULT_MAX_UPLOAD", "create_app"]

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD = 200_000_000
"""Largest upload accepted by default, in bytes (a 24 MP 16-bit TIFF is about 150 MB)."""

# A PSF for rl/wiener is a spec (gaussian:2, disk:4, motion:21,45, shake:15,3, auto, auto:31);
# file names are refused: the page must not make the server read its files.
_PSF_SPEC = re.compile(r"\s*[A-Za-z]+\s*(:[0-9eE.,+\-\s]*)?")
_BODY_TYPES = ("application/octet-stream", "image/")
_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def _fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def _options(name: str, method: str, strength: float, psf: str | None, guard: bool) -> dict:
    """The restore options of an upload, checked before its body is read."""
    if method not in METHODS:
        raise _fail(400, f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise _fail(400, f"strength must be between 0 and 1, got {strength}")
    psf = psf.strip() if psf else None
    if method == "net":
        if psf:
            raise _fail(400, "psf is for the methods hqs, rl and wiener; the network needs none")
    else:
        psf = psf or "auto"
        if not _PSF_SPEC.fullmatch(psf) or Path(psf).exists():
            raise _fail(
                400,
                f"psf {psf[:40]!r}: expected auto, auto:SIZE, gaussian:SIGMA, disk:RADIUS, "
                "motion:LENGTH,ANGLE or shake:SIZE,SEED",
            )
    return {"method": method, "strength": float(strength), "psf": psf, "guard": bool(guard)}


def _extension(name: str) -> str:
    from deblur.io import IMAGE_EXTENSIONS

    ext = Path(name.replace("\\", "/")).suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        shown = f"'{ext}'" if ext else "no extension"
        supported = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise _fail(400, f"{name}: unsupported file type ({shown}; supported: {supported})")
    return ext


def _too_large(name: str, size: str, limit: int) -> HTTPException:
    return _fail(
        413,
        f"{name}: upload too large ({size} bytes; the limit is {limit:,} bytes, "
        "set with deblur serve --max-upload-mb)",
    )


async def _receive(request: Request, job: Job, limit: int) -> int:
    """Stream the request body into the job's folder, refusing it past ``limit`` bytes."""
    total = 0
    with open(job.source, "wb") as fh:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise _too_large(job.name, f"more than {limit:,}", limit)
            fh.write(chunk)
    return total


def _host_of(header: str) -> str:
    if header.startswith("["):  # [::1]:8000
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def create_app(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int | None = None,
    weights: str | Path | None = None,
    device: str = "auto",
    max_jobs: int = 20,
    allowed_hosts: set[str] | None = None,
    parent: Path | None = None,
) -> FastAPI:
    """The FastAPI app of ``deblur serve``.

    Parameters
    ----------
    max_upload_bytes : int
        Largest upload, in bytes; larger ones get 413 before anything is decoded.
    max_pixels : int, optional
        Largest image, in pixels (checked from the header before decoding); default:
        ``$DEBLUR_MAX_PIXELS`` or :data:`deblur.io.MAX_PIXELS`.
    weights, device : passed to :func:`deblur.restore` (the network's weights and device).
    max_jobs : int
        Photos kept at once (the oldest finished ones are dropped with their files).
    allowed_hosts : set of str, optional
        Accepted ``Host`` headers (without the port); None accepts any. ``deblur serve``
        on a loopback address passes its own names, which keeps other web sites out
        (DNS rebinding).
    parent : Path, optional
        Where the temporary folder is made; default: the system's temporary folder.

    Returns
    -------
    FastAPI
        The app; its temporary folder and worker live while it runs (its lifespan).
    """
    from deblur.io import IMAGE_EXTENSIONS
    from deblur.io.read import max_pixels_limit

    pixel_limit = max_pixels_limit(max_pixels)
    restore_options: dict[str, Any] = {"max_pixels": max_pixels, "device": device}
    if weights is not None:
        restore_options["weights"] = weights

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        jobs = JobQueue(restore_options, max_jobs=max_jobs, parent=parent)
        app.state.jobs = jobs
        try:
            yield
        finally:
            await run_in_threadpool(jobs.close)

    app = FastAPI(
        title="deblur", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def _guard_headers(request: Request, call_next):
        if allowed_hosts is not None:
            host = _host_of(request.headers.get("host", ""))
            if host not in allowed_hosts:
                return JSONResponse({"error": f"host {host[:60]!r} not allowed"}, 400)
        response = await call_next(request)
        response.headers.update(_PAGE_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        err = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
        msg = " ".join(str(err.get("msg", "bad request")).split())
        return JSONResponse({"error": f"{where}: {msg}" if where else msg}, status_code=422)

    def _jobs(request: Request) -> JobQueue:
        return request.app.state.jobs

    def _job(request: Request, job_id: str) -> Job:
        job = _jobs(request).get(job_id)
        if job is None:
            raise _fail(404, "no such photo (it was removed, or the server restarted)")
        return job

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/options")
    async def options() -> dict:
        return {
            "methods": list(METHODS),
            "extensions": sorted(IMAGE_EXTENSIONS),
            "max_upload_bytes": max_upload_bytes,
            "max_pixels": pixel_limit,
            "defaults": {"method": "net", "strength": 1.0, "psf": "auto", "guard": True},
        }

    @app.post("/api/jobs", status_code=202)
    async def submit(
        request: Request,
        name: str = Query(..., min_length=1, max_length=255),
        method: str = "net",
        strength: float = 1.0,
        psf: str | None = Query(None, max_length=64),
        guard: bool = True,
    ) -> dict:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not kind.startswith(_BODY_TYPES):
            raise _fail(
                415,
                "send the photo as the request body, with Content-Type "
                "application/octet-stream or image/*",
            )
        ext = _extension(name)
        opts = _options(name, method, strength, psf, guard)
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise _fail(400, f"bad Content-Length {length[:20]!r}")
            if int(length) > max_upload_bytes:
                raise _too_large(name, f"{int(length):,}", max_upload_bytes)
        jobs = _jobs(request)
        try:
            job = jobs.new_job(name, ext, opts)
        except QueueFull as e:
            raise _fail(429, str(e)) from None
        try:
            if await _receive(request, job, max_upload_bytes) == 0:
                raise _fail(400, f"{name}: empty file (0 bytes)")
        except BaseException:
            jobs.discard(job)
            raise
        try:
            await run_in_threadpool(jobs.prepare, job)
        except BadUpload as e:
            raise _fail(400, str(e)) from None
        return jobs.describe(job)

    @app.get("/api/jobs/{job_id}")
    async def status(request: Request, job_id: str) -> dict:
        return _jobs(request).describe(_job(request, job_id))

    @app.get("/api/jobs/{job_id}/{which}")
    async def files(request: Request, job_id: str, which: str) -> FileResponse:
        job = _job(request, job_id)
        if which not in ("before", "after", "result"):
            raise _fail(404, f"no {which[:40]!r} for a photo; there are before, after, result")
        path = getattr(job, which)
        if path is None or not path.is_file():
            raise _fail(409, f"{job.name}: not restored ({job.state})")
        if which == "result":
            return FileResponse(path, filename=job.download_name)
        return FileResponse(path)

    @app.delete("/api/jobs/{job_id}")
    async def remove(request: Request, job_id: str) -> dict:
        job = _job(request, job_id)
        if job.state == "running":
            raise _fail(409, f"{job.name}: being restored; remove it when it is done")
        job.state = "failed"  # a queued job is skipped by the worker
        _jobs(request).discard(job)
        return {"removed": job_id}

    return app
