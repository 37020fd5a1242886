"""The restore queue behind ``deblur serve``: one worker thread, one photo at a time.

Every upload becomes a :class:`Job` with its own folder inside the service's temporary
folder (the uploaded file, the result and two small previews live there, and nowhere
else). :meth:`JobQueue.prepare` checks the options and the image the way ``deblur restore``
does (:func:`deblur.batch.restore_files`, then :func:`deblur.io.read_image`, which reads the
header and refuses an image above the pixel limit before decoding it); the worker then runs
the same restore the command line runs, and writes the previews the page compares.
"""

from __future__ import annotations

import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur.errors import DeblurError, one_line

__all__ = ["BadUpload", "Job", "JobQueue", "QueueFull"]

PREVIEW_SIDE = 1600
"""Longest side, in pixels, of the previews the page shows (results are downloaded whole)."""


class QueueFull(DeblurError):
    """Too many photos are waiting; the upload is refused (HTTP 429)."""


class BadUpload(DeblurError, ValueError):
    """The upload or its options cannot be used (HTTP 400); the message names the file."""


@dataclass
class Job:
    """One uploaded photo and its restore.

    Attributes
    ----------
    id : random hexadecimal name, the only handle the page gets.
    name : the uploaded file's name (shown and used for the download's name only).
    folder : the job's own folder inside the temporary folder.
    source : the uploaded file, ``folder/input.EXT``.
    options : method, strength, psf and guard, as given to the restore.
    state : ``queued``, ``running``, ``done`` or ``failed``.
    """

    id: str
    name: str
    folder: Path
    source: Path
    options: dict[str, Any]
    state: str = "queued"
    pixels: int = 0
    size: tuple[int, int] = (0, 0)
    error: str | None = None
    note: str = ""
    check: dict[str, Any] | None = None
    result: Path | None = None
    before: Path | None = None
    after: Path | None = None
    estimate_s: float | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    outcomes: Iterator[Any] | None = field(default=None, repr=False)

    @property
    def download_name(self) -> str:
        """``STEM_deblurred.EXT`` from the uploaded name (path parts and odd characters
        dropped)."""
        stem = Path(self.name.replace("\\", "/")).stem
        stem = "".join(c for c in stem if c.isprintable() and c not in '"/\\:*?<>|').strip()
        return f"{stem or 'photo'}_deblurred{self.source.suffix}"

    def message(self, e: BaseException) -> str:
        """A one-line error naming the uploaded file, never the temporary path."""
        msg = one_line(e)
        for path in (self.source, self.folder):
            msg = msg.replace(str(path), self.name)
        return msg if self.name in msg else f"{self.name}: {msg}"


def _preview(path: Path, color: Any, alpha: Any, side: int) -> Path:
    """An 8-bit preview of at most ``side`` pixels a side (PNG with alpha, else JPEG)."""
    import cv2

    from deblur.io import write_image

    h, w = color.shape[:2]
    scale = side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        color = cv2.resize(color, size, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    path = path.with_suffix(".jpg" if alpha is None else ".png")
    return write_image(path, color, alpha=alpha, bit_depth=8, overwrite=True)


def check_note(outcome: Any, guard: bool) -> str:
    """The result check's verdict on one restored file, as one sentence for the page."""
    if outcome.notes:
        return "; ".join(outcome.notes)
    if not guard:
        return "not checked (the result check is off)"
    if not outcome.info:
        return "kept the input (strength 0)"
    reason = outcome.info.get("reason")
    return "the check kept the result" + (f" ({reason})" if reason else "")


class JobQueue:
    """Photos waiting for the worker, the worker thread, and the temporary folder.

    Parameters
    ----------
    restore_options : dict
        Fixed options of every restore (``weights``, ``device``, ``max_pixels``), passed
        to :func:`deblur.batch.restore_files`.
    max_jobs : int
        Jobs kept at once; the oldest finished ones (and their files) are dropped first,
        and an upload is refused while this many are still waiting or running.
    preview_side : int
        Longest side of the previews.
    parent : Path, optional
        Where the temporary folder is made; default: the system's temporary folder.
    """

    def __init__(
        self,
        restore_options: dict[str, Any] | None = None,
        *,
        max_jobs: int = 20,
        preview_side: int = PREVIEW_SIDE,
        parent: Path | None = None,
    ) -> None:
        self.restore_options = dict(restore_options or {})
        self.max_jobs = max_jobs
        self.preview_side = preview_side
        self.root = Path(tempfile.mkdtemp(prefix="deblur-serve-", dir=parent))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._decoding = threading.Lock()  # one upload decoded at a time (bounded memory)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._rate: dict[str, float] = {}  # seconds per pixel of the last restore, per method
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="deblur-serve-worker")
        self._thread.daemon = True
        self._thread.start()

    # --- the request side ------------------------------------------------------------------

    def new_job(self, name: str, ext: str, options: dict[str, Any]) -> Job:
        """A job with a fresh folder for an upload of ``name`` (extension ``ext``)."""
        if self._closed:
            raise QueueFull("the server is shutting down")
        with self._lock:
            self._evict()
            waiting = sum(j.state in ("queued", "running") for j in self._jobs.values())
        if waiting >= self.max_jobs:
            raise QueueFull(f"{waiting} photos are waiting already; try again when some are done")
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir()
        return Job(job_id, name, folder, folder / f"input{ext}", dict(options))

    def prepare(self, job: Job) -> None:
        """Check the options and the uploaded image, write the "before" preview, and queue
        the job; on any error the job's folder is removed.

        Raises
        ------
        BadUpload
            Bad options (as ``deblur restore`` reports them), or a file that is not an
            image, is corrupt, or is above the pixel limit (checked before decoding).
        """
        from deblur.batch import restore_files
        from deblur.io import read_image

        opts = job.options
        try:
            _, job.outcomes = restore_files(
                [str(job.source)],
                output=job.folder / f"result{job.source.suffix}",
                method=opts["method"],
                psf=opts.get("psf"),
                strength=opts["strength"],
                guard=opts["guard"],
                **self.restore_options,
            )
            limit = self.restore_options.get("max_pixels")
            with self._decoding:
                image = read_image(job.source, max_pixels=limit)
                job.size = image.color.shape[1], image.color.shape[0]
                side = self.preview_side
                job.before = _preview(job.folder / "before", image.color, image.alpha, side)
                del image
            job.pixels = job.size[0] * job.size[1]
        except (DeblurError, ValueError, OSError) as e:
            self.discard(job)
            raise BadUpload(job.message(e)) from None
        except BaseException:
            self.discard(job)
            raise
        rate = self._rate.get(opts["method"])
        job.estimate_s = None if rate is None else rate * job.pixels
        with self._lock:
            self._jobs[job.id] = job
        self._queue.put(job)

    def discard(self, job: Job) -> None:
        """Forget a job and remove its folder (a running restore finishes first)."""
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        """The job of this id, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def describe(self, job: Job) -> dict[str, Any]:
        """What the page shows of a job (JSON-able; no paths)."""
        with self._lock:
            ahead = sum(
                j.state == "queued" and j.created < job.created for j in self._jobs.values()
            )
            running = any(j.state == "running" for j in self._jobs.values())
            now = time.time()
            elapsed = None
            if job.started is not None:
                elapsed = round((job.finished or now) - job.started, 2)
            out = {
                "id": job.id,
                "name": job.name,
                "state": job.state,
                "width": job.size[0],
                "height": job.size[1],
                "options": job.options,
                "ahead": ahead + (running and job.state == "queued"),
                "elapsed_s": elapsed,
                "estimate_s": job.estimate_s,
                "started": job.started,
                "finished": job.finished,
                "error": job.error,
                "note": job.note,
                "check": job.check,
                "download_name": job.download_name if job.result else None,
            }
        return out

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker (after the restore in progress, if it ends within ``timeout``
        seconds) and remove the temporary folder."""
        self._closed = True
        with self._lock:
            for job in self._jobs.values():
                if job.state == "queued":
                    job.state, job.error = "failed", "the server stopped"
        self._queue.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the worker side -------------------------------------------------------------------

    def _evict(self) -> None:
        """Drop the oldest finished jobs beyond ``max_jobs - 1`` (lock held)."""
        finished = sorted(
            (j for j in self._jobs.values() if j.state in ("done", "failed")),
            key=lambda j: j.created,
        )
        excess = len(self._jobs) - (self.max_jobs - 1)
        for job in finished[: max(0, excess)]:
            del self._jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._closed:
                break
            if job.state != "queued":  # failed by close() meanwhile
                continue
            with self._lock:
                job.state, job.started = "running", time.time()
            try:
                self._restore(job)
            except Exception as e:  # a bug: the page gets one line, the log the details
                import traceback

                traceback.print_exc()
                with self._lock:
                    job.state, job.error = "failed", f"internal error: {job.message(e)}"
            finally:
                job.outcomes = None
                job.finished = time.time()
        if self._closed:  # a restore that outlived close() may have written files
            shutil.rmtree(self.root, ignore_errors=True)

    def _restore(self, job: Job) -> None:
        from deblur.io import read_image

        assert job.outcomes is not None
        outcome = next(job.outcomes)  # the restore of deblur restore, on this one file
        if outcome.error:
            with self._lock:
                job.state, job.error = "failed", job.message(DeblurError(outcome.error))
            return
        result = Path(outcome.written[0])
        image = read_image(result, max_pixels=self.restore_options.get("max_pixels"))
        after = _preview(job.folder / "after", image.color, image.alpha, self.preview_side)
        seconds = time.time() - (job.started or time.time())
        self._rate[job.options["method"]] = seconds / max(job.pixels, 1)
        check = outcome.info or None
        if check is not None:
            check = {k: v for k, v in check.items() if k in ("verdict", "action", "reason")}
        with self._lock:
            job.result, job.after, job.check = result, after, check
            job.note = check_note(outcome, job.options["guard"])
            job.state = "done"
