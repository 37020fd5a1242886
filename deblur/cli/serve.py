"""``deblur serve``: the local web page (:mod:`deblur.serve`, the ``deblur[web]`` extra)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from deblur.cli._common import (
    _R,
    Device,
    DeviceOpt,
    MaxPixels,
    Threads,
    UsageError,
    Weights,
    _cli_errors,
    _set_threads,
    app,
)

_LOCAL_NAMES = {"localhost", "127.0.0.1", "[::1]"}


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or a one-line error."""
    try:
        info = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        family, _, _, _, address = info[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    return sock


@app.command()
@_cli_errors
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDR",
            help="Address to listen on; the default is this computer only (0.0.0.0: every "
            "network, without any password).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", "-p", min=0, max=65535, help="Port; 0 picks a free one."),
    ] = 8000,
    max_upload_mb: Annotated[
        float,
        typer.Option(
            "--max-upload-mb",
            metavar="MB",
            help="Largest upload accepted, in MB (10^6 bytes); a larger one is refused "
            "before it is read.",
        ),
    ] = 200.0,
    max_pixels: MaxPixels = None,
    weights: Weights = None,
    device: DeviceOpt = Device(_R.device),
    threads: Threads = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the default web browser.")
    ] = False,
) -> None:
    """Serve a local web page to restore photos: drop them, compare before and after, download.

    Restores run one at a time, with the library's defaults for what the page does not
    set; uploads and results stay in a temporary folder, removed when the server stops
    (Ctrl-C).
    """
    try:
        import uvicorn

        from deblur.serve.app import create_app
    except ImportError as e:
        raise UsageError(
            f"deblur serve needs the web extra ({e.name} is missing): pip install 'deblur[web]'"
        ) from None
    from deblur.io.read import max_pixels_limit
    from deblur.models import load_model

    if not max_upload_mb > 0:
        raise UsageError(f"--max-upload-mb must be > 0, got {max_upload_mb}")
    max_pixels_limit(max_pixels)  # a bad DEBLUR_MAX_PIXELS is bad usage, before starting
    _set_threads(threads)
    load_model(weights, device=Device(device).value)  # one clear error before serving
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    allowed = None
    if _loopback(host):
        allowed = _LOCAL_NAMES | {shown.lower()}
    web = create_app(
        max_upload_bytes=max(1, int(max_upload_mb * 1e6)),
        max_pixels=max_pixels,
        weights=weights,
        device=Device(device).value,
        allowed_hosts=allowed,
    )
    url = f"http://{shown}:{bound}/"
    typer.echo(f"deblur serve: {url} (Ctrl-C to stop)")
    if allowed is None:
        typer.echo(f"warning: listening on {host}: anyone who can reach it can use it", err=True)
    if open_page:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
