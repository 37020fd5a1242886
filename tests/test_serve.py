"""``deblur serve``: the JSON API through FastAPI's test client, the command, and the page
end to end in a real headless Chromium (skipped only where no browser is installed)."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from deblur.serve.app import create_app
from tests.conftest import REPO, make_image, read_raw

BODY = {"content-type": "application/octet-stream"}
WIENER = {"method": "wiener", "psf": "gaussian:1.5"}


def png(image: np.ndarray) -> bytes:
    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    data = image
    ok, buf = cv2.imencode(".png", data)
    assert ok
    return buf.tobytes()


def blurred_chart(h: int = 64, w: int = 64, sigma: float = 1.5) -> np.ndarray:
    """Stripes, shapes and a word, blurred by a Gaussian of ``sigma`` (uint8 RGB)."""
    x = np.full((h, w, 3), 235, np.uint8)
    for i, left in enumerate(range(w // 16, w - w // 16, max(2, w // 24))):
        if i % 2 == 0:
            x[h // 12 : h // 4, left : left + max(1, (i % 5 + 1) * w // 200)] = 25
    x[3 * h // 10 : h // 2, w // 12 : w // 3] = (40, 90, 200)
    cv2.circle(x, (3 * w // 4, 2 * h // 5), max(3, h // 9), (200, 60, 40), -1)
    cv2.putText(
        x,
        "deblur",
        (w // 12, 9 * h // 10),
        cv2.FONT_HERSHEY_SIMPLEX,
        w / 150,
        (20, 20, 20),
        max(1, w // 60),
        cv2.LINE_AA,
    )
    from deblur.psf import gaussian

    y = cv2.filter2D(x.astype(np.float32), -1, gaussian(sigma), borderType=cv2.BORDER_REFLECT)
    noise = np.random.default_rng(0).normal(0, 1.0, y.shape)
    return np.clip(np.round(y + noise), 0, 255).astype(np.uint8)


@pytest.fixture
def client(tmp_path):
    """A test client of an app whose temporary folder is made in ``tmp_path/parent``."""
    (tmp_path / "parent").mkdir()
    with TestClient(create_app(parent=tmp_path / "parent")) as c:
        yield c


def submit(client, data: bytes, name: str = "photo.png", headers=BODY, **params):
    return client.post("/api/jobs", params={"name": name, **params}, content=data, headers=headers)


def wait(client, job_id: str, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def assert_one_line_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    assert "deblur-serve-" not in message  # never the temporary folder's path
    for word in words:
        assert word in message, message
    return message


# --- the API ------------------------------------------------------------------------------


def test_page_and_options(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="drop"' in page.text and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    options = client.get("/api/options").json()
    assert options["methods"] == ["net", "rl", "wiener", "hqs", "auto"]
    assert ".jpg" in options["extensions"] and options["max_upload_bytes"] > 0


def test_restore_matches_deblur_restore(client, tmp_path):
    """The page's result is the command line's: the same library call on the same file."""
    image = blurred_chart()
    r = submit(client, png(image), name="chart.png", guard="false", **WIENER)
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["state"] == "done", job
    assert (job["width"], job["height"]) == (64, 64)
    assert job["note"] == "not checked (the result check is off)"
    got = client.get(f"/api/jobs/{job['id']}/result")
    assert got.status_code == 200
    assert 'filename="chart_deblurred.png"' in got.headers["content-disposition"]
    (tmp_path / "got.png").write_bytes(got.content)

    from deblur.batch import restore_files

    src = tmp_path / "chart.png"
    src.write_bytes(png(image))
    _, outcomes = restore_files(
        [str(src)], output=tmp_path / "cli.png", method="wiener", psf="gaussian:1.5", guard=False
    )
    assert not next(outcomes).error
    expected = read_raw(tmp_path / "cli.png")
    assert np.array_equal(read_raw(tmp_path / "got.png"), expected)
    assert not np.array_equal(expected, image)  # it did restore something
    for which in ("before", "after"):
        preview = client.get(f"/api/jobs/{job['id']}/{which}")
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
        decoded = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (64, 64, 3)


def test_the_uploaded_name_is_only_a_label(client):
    r = submit(client, png(make_image(32, 32)), name="../../etc/a b.PNG", **WIENER)
    job = wait(client, r.json()["id"])
    assert job["download_name"] == "a b_deblurred.png"
    (folder,) = client.app.state.jobs.root.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "after.jpg",
        "before.jpg",
        "input.png",
        "result.png",
    ]


def test_the_check_speaks(client):
    r = submit(client, png(make_image(64, 64)), method="rl", psf="gaussian:2")
    job = wait(client, r.json()["id"])
    assert job["state"] == "done" and job["check"]["action"]
    assert job["note"] and job["note"] != "not checked (the result check is off)"


def test_alpha_previews_are_png_and_big_photos_are_shrunk(tmp_path):
    (tmp_path / "p").mkdir()
    with TestClient(create_app(parent=tmp_path / "p")) as c:
        c.app.state.jobs.preview_side = 40
        r = submit(c, png(make_image(64, 80, channels=4)), name="a.png", **WIENER)
        job = wait(c, r.json()["id"])
        assert job["state"] == "done", job
        preview = c.get(f"/api/jobs/{job['id']}/after")
        assert preview.headers["content-type"] == "image/png"
        decoded = cv2.imdecode(np.frombuffer(preview.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded.shape == (32, 40, 4)
        result = c.get(f"/api/jobs/{job['id']}/result").content
        assert cv2.imdecode(np.frombuffer(result, np.uint8), -1).shape == (64, 80, 4)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"method": "sharpen"}, ["unknown method 'sharpen'"]),
        ({"strength": "1.5"}, ["strength must be between 0 and 1"]),
        ({"strength": "nan"}, ["strength must be between 0 and 1"]),
        ({"method": "net", "psf": "gaussian:2"}, ["psf is for the methods hqs, rl and wiener"]),
        ({"method": "rl", "psf": "../weights/x.npy"}, ["expected auto, auto:SIZE"]),
        ({"method": "wiener", "psf": "gaussian:abc"}, ["gaussian:abc"]),
        ({"method": "wiener", "psf": "auto:4"}, ["SIZE odd"]),
    ],
)
def test_bad_options_are_400(client, params, words):
    r = submit(client, png(make_image(32, 32)), **params)
    assert_one_line_error(r, 400, *words)


def test_a_psf_file_is_never_read(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "k.npy", np.ones((3, 3), np.float32))
    r = submit(client, png(make_image(32, 32)), method="wiener", psf="k.npy")
    assert_one_line_error(r, 400, "expected auto")


def test_bad_query_is_422_in_one_line(client):
    r = submit(client, png(make_image(32, 32)), strength="lots")
    assert_one_line_error(r, 422, "strength")
    r = client.post("/api/jobs", content=b"x", headers=BODY)
    assert_one_line_error(r, 422, "name")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.png", b"this is text, not a photo", ["notes.png: not an image"]),
        ("cut.png", png(make_image(32, 32))[:60], ["cut.png", "truncated"]),
        ("empty.png", b"", ["empty.png: empty file"]),
        ("anim.gif", b"GIF89a....", ["anim.gif: unsupported file type ('.gif'"]),
        ("noext", b"x", ["no extension"]),
    ],
)
def test_bad_files_are_400_and_leave_nothing(client, tmp_path, name, data, words):
    r = submit(client, data, name=name, **WIENER)
    assert_one_line_error(r, 400, *words)
    assert list(client.app.state.jobs.root.iterdir()) == []


def test_body_must_be_the_photo(client):
    r = submit(client, png(make_image(32, 32)), headers={"content-type": "multipart/form-data"})
    assert_one_line_error(r, 415, "application/octet-stream")


def test_too_large_is_refused_before_reading(tmp_path):
    (tmp_path / "p").mkdir()
    with TestClient(create_app(max_upload_bytes=1000, parent=tmp_path / "p")) as c:
        root = c.app.state.jobs.root
        data = png(make_image(64, 64, seed=3))
        assert len(data) > 1000
        r = submit(c, data, **WIENER)  # Content-Length says so: nothing is read
        assert_one_line_error(r, 413, f"photo.png: upload too large ({len(data):,} bytes")
        assert list(root.iterdir()) == []

        def chunks():  # no Content-Length: counted while streaming
            for i in range(0, len(data), 256):
                yield data[i : i + 256]

        r = submit(c, chunks(), **WIENER)
        assert_one_line_error(r, 413, "more than 1,000 bytes")
        assert list(root.iterdir()) == []
        small = png(np.zeros((8, 8, 3), np.uint8))
        assert submit(c, small, **WIENER).status_code == 202


def test_too_many_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    (tmp_path / "p").mkdir()
    import deblur.io.read as read

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded an image above the pixel limit")

    with TestClient(create_app(max_pixels=1000, parent=tmp_path / "p")) as c:
        monkeypatch.setattr(read.cv2, "imdecode", no_decode)
        r = submit(c, png(make_image(64, 64)), name="big.png", **WIENER)
        assert_one_line_error(r, 400, "big.png: image too large", "4,096 pixels")
        assert list(c.app.state.jobs.root.iterdir()) == []


def test_one_restore_at_a_time(client):
    ids = [
        submit(
            client, png(make_image(64, 64, seed=s)), method="rl", psf="gaussian:1.5", guard="false"
        ).json()["id"]
        for s in range(3)
    ]
    jobs = sorted((wait(client, i) for i in ids), key=lambda j: j["started"])
    assert [j["state"] for j in jobs] == ["done"] * 3
    for a, b in zip(jobs, jobs[1:]):
        assert a["finished"] <= b["started"], "two restores overlapped"
    # later photos learn from the earlier ones how long a restore takes (the progress bar)
    late = submit(client, png(make_image(64, 64)), method="rl", psf="gaussian:1.5").json()
    assert late["estimate_s"] is not None and late["estimate_s"] >= 0


def test_progress_while_waiting(client, monkeypatch):
    jobs = client.app.state.jobs
    gate = threading.Event()
    real = jobs._restore

    def slow(job):
        gate.wait(30)
        real(job)

    monkeypatch.setattr(jobs, "_restore", slow)
    first = submit(client, png(make_image(32, 32)), **WIENER).json()["id"]
    second = submit(client, png(make_image(32, 32, seed=1)), **WIENER).json()
    assert second["state"] == "queued" and second["ahead"] == 1
    assert client.get(f"/api/jobs/{first}").json()["state"] == "running"
    r = client.get(f"/api/jobs/{first}/result")
    assert_one_line_error(r, 409, "not restored (running)")
    assert_one_line_error(client.delete(f"/api/jobs/{first}"), 409, "being restored")
    assert client.delete(f"/api/jobs/{second['id']}").status_code == 200
    gate.set()
    assert wait(client, first)["state"] == "done"
    assert_one_line_error(client.get(f"/api/jobs/{second['id']}"), 404, "no such photo")


def test_files_stay_in_the_temporary_folder_and_go(tmp_path, monkeypatch):
    """Nothing is written beside the server (its working folder) nor left behind."""
    work, parent = tmp_path / "cwd", tmp_path / "parent"
    work.mkdir(), parent.mkdir()
    monkeypatch.chdir(work)
    with TestClient(create_app(parent=parent, max_jobs=2)) as c:
        ids = [submit(c, png(make_image(32, 32, seed=s)), **WIENER).json()["id"] for s in (0, 1)]
        for i in ids:
            wait(c, i)
        (root,) = parent.iterdir()
        assert sorted(p.name for p in root.iterdir()) == sorted(ids)
        third = submit(c, png(make_image(32, 32, seed=2)), **WIENER).json()["id"]
        wait(c, third)
        assert ids[0] not in {p.name for p in root.iterdir()}  # the oldest one was dropped
        assert c.get(f"/api/jobs/{ids[0]}").status_code == 404
    assert list(parent.iterdir()) == [] and list(work.iterdir()) == []


def test_other_hosts_are_refused(tmp_path):
    (tmp_path / "p").mkdir()
    app = create_app(allowed_hosts={"127.0.0.1", "localhost"}, parent=tmp_path / "p")
    with TestClient(app) as c:
        assert_one_line_error(c.get("/api/options"), 400, "not allowed")
        assert c.get("/api/options", headers={"host": "127.0.0.1:8000"}).status_code == 200
        evil = c.get("/api/options", headers={"host": "evil.example:8000"})
        assert_one_line_error(evil, 400, "evil.example")


def test_unknown_routes_are_json(client):
    assert_one_line_error(client.get("/api/jobs/0123"), 404, "no such photo")
    assert client.get("/nothing").json() == {"error": "Not Found"}


# --- the command --------------------------------------------------------------------------


def test_serve_help_and_errors(monkeypatch):
    from typer.testing import CliRunner

    from deblur.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["serve", "--help"])
    assert out.exit_code == 0 and "--max-upload-mb" in out.output and "127.0.0.1" in out.output
    out = runner.invoke(app, ["serve", "--max-upload-mb", "0"])
    assert out.exit_code == 2 and "--max-upload-mb must be > 0" in out.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # the web extra is not installed
    out = runner.invoke(app, ["serve"])
    assert out.exit_code == 2 and "pip install 'deblur[web]'" in out.output


def test_serve_refuses_a_port_in_use():
    import socket

    from deblur.cli.serve import _listen
    from deblur.errors import UsageError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="cannot listen on 127.0.0.1:"):
            _listen("127.0.0.1", taken.getsockname()[1]).close()
    sock = _listen("127.0.0.1", 0)
    assert sock.getsockname()[0] == "127.0.0.1"  # this machine only
    sock.close()


# --- the page, in a real browser ----------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,820",
    "--hide-scrollbars",
]

DROP = """
const [b64, name, type] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, { type }));
document.getElementById("drop").dispatchEvent(
  new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


def _browser() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(
            "no headless browser: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run does) to run this test"
        )
    return browser, driver


@pytest.fixture
def server(tmp_path):
    """``python -m deblur serve --port 0`` in a subprocess; yields (url, its TMPDIR)."""
    tmp = tmp_path / "server-tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "deblur", "serve", "--port", "0", "--threads", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first: list[str] = []  # the URL line, printed once the socket listens
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))
        reader.start()
        reader.join(120)
        line = first[0] if first else "(nothing after 120 s)\n"
        assert line.startswith("deblur serve: http://127.0.0.1:"), line + proc.stderr.read()
        yield line.split()[2], tmp
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    errors = proc.stderr.read()
    assert proc.returncode in (0, 130, -signal.SIGINT), errors  # stopped by Ctrl-C
    assert "Traceback" not in errors, errors
    assert list(tmp.iterdir()) == [], "the server left files in its temporary folder"


def test_page_in_a_headless_browser(server, tmp_path):
    browser, driver_path = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, _ = server
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    js = driver.execute_script
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.ID, "limits").text)
        assert "megapixels" in driver.find_element(By.ID, "limits").text
        Select(driver.find_element(By.ID, "method")).select_by_value("wiener")
        psf = driver.find_element(By.ID, "psf")
        assert psf.is_displayed()
        psf.clear()
        psf.send_keys("gaussian:2")

        chart = blurred_chart(280, 420, sigma=2.0)
        js(DROP, base64.b64encode(png(chart)).decode(), "chart.png", "image/png")
        shown = (
            "const v = document.getElementById('viewer'), a = document.getElementById('after');"
            "return !v.hidden && a.complete && a.naturalWidth > 0 && "
            "document.getElementById('before').naturalWidth > 0;"
        )
        wait.until(lambda d: js(shown))
        card = driver.find_element(By.CSS_SELECTOR, "#jobs li")
        assert card.get_attribute("data-state") == "done"
        assert "done in" in card.text and "420x280" in card.text
        note = driver.find_element(By.ID, "note").text
        assert note.startswith("chart.png: the check kept the result"), note
        link = driver.find_element(By.ID, "download")
        assert link.get_attribute("download") == "chart_deblurred.png"
        with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as r:
            result = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
        assert result.shape == (280, 420, 3)
        assert np.abs(result.astype(int) - chart[:, :, ::-1]).mean() > 0.5  # restored

        js(
            "const s = document.getElementById('slider'); s.value = 30;"
            "s.dispatchEvent(new Event('input'));"
        )
        assert "30%" in js("return document.getElementById('after').style.clipPath")
        js(
            "const s = document.getElementById('slider'); s.value = 50;"
            "s.dispatchEvent(new Event('input'));"
        )
        js("document.activeElement.blur();")
        shot = tmp_path / "serve.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("DEBLUR_SERVE_SCREENSHOT"):  # the README's picture, 256 colours
            from PIL import Image

            with Image.open(shot) as im:
                small = im.convert("RGB").quantize(256, dither=Image.Dither.NONE)
                small.save(os.environ["DEBLUR_SERVE_SCREENSHOT"], optimize=True)

        # a file that is not an image, through the file chooser: one line on its card
        bad = tmp_path / "notes.png"
        bad.write_text("not a photo")
        chooser = driver.find_element(By.ID, "files")
        js("arguments[0].style.display = 'block';", chooser)
        chooser.send_keys(str(bad))
        failed = "#jobs li[data-state=failed] .error"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, failed))
        error = driver.find_element(By.CSS_SELECTOR, failed).text
        assert error == "notes.png: not an image (cannot decode)", error
        assert driver.find_element(By.ID, "viewer").get_attribute("data-job")
    finally:
        driver.quit()
