"""``oam-preview serve``: the app under gunicorn (:mod:`oam_preview.serve`), started only once
its port is bound and its catalog read, the demo's file server started for it when the catalog
is the demo."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import socket
from dataclasses import dataclass
from typing import Any

import click

from ..config import DEMO_CATALOG, Settings

#: Skipped records listed by ``serve`` at most; ``oam-preview catalog`` lists them all.
SKIPPED_SHOWN = 20


@click.command("serve")
@click.option("--catalog", "catalog", default=None, help="Catalog path or URL (default: the demo).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--prefix", default=None, help="URL prefix of the API, e.g. /preview.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Processes.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Threads per process."
)
@click.option(
    "--proxies", default=None, type=click.IntRange(0, 10), help="Trusted reverse proxies (X-Forwarded-*)."
)
@click.option(
    "--max-requests",
    default=0,
    show_default=True,
    type=click.IntRange(0, None),
    help="Restart a worker after this many requests (0: never); bounds slow memory growth.",
)
def serve_command(
    catalog: str | None,
    host: str,
    port: int,
    prefix: str | None,
    workers: int,
    threads: int,
    proxies: int | None,
    max_requests: int,
) -> None:
    """Run the app under gunicorn (threaded workers)."""
    overrides = {
        "OAM_PREVIEW_CATALOG": catalog,
        "OAM_PREVIEW_PREFIX": prefix,
        "OAM_PREVIEW_TRUSTED_PROXIES": None if proxies is None else str(proxies),
    }
    env = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings.from_mapping({**os.environ, **env})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from .. import serve as gunicorn_server

    try:  # first: a serve that cannot listen changes nothing
        listener = listening_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {listen_problem(exc)}") from None
    port = listener.getsockname()[1]  # the one chosen, for --port 0
    if settings.catalog == DEMO_CATALOG:
        # One file server for every worker, started here, so each worker reads this server's
        # own catalog file instead of starting a file server of its own.
        from ..demo.switch import serving_config

        env.update(serving_config({**os.environ, **env}))
        click.echo(f"demo images served over HTTP ranges, catalog {env['OAM_PREVIEW_CATALOG']}", err=True)
    os.environ.update(env)
    source = os.environ["OAM_PREVIEW_CATALOG"]
    check = check_catalog(source, settings.catalog_max_records)
    if check.error is not None:
        raise click.ClickException(check.error)
    warn_of_skipped(source if settings.catalog != DEMO_CATALOG else DEMO_CATALOG, check)

    # Before any worker imports prometheus-client: every worker's metrics go to one directory.
    remove_at_exit = gunicorn_server.prepare_process()
    click.echo(f"oam-preview on http://{host}:{port}{settings.prefix}/", err=True)
    bind = f"fd://{listener.fileno()}"  # the socket bound above, taken over by gunicorn
    gunicorn_server.run(
        gunicorn_server.gunicorn_settings(bind, workers, threads, max_requests, remove_at_exit)
    )


def listen_problem(exc: OSError) -> str:
    """Why a port cannot be listened on, in a few words, with what to do when it is taken."""
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another server? --port chooses another)"
    return exc.strerror or str(exc)


def warn_of_skipped(source: str, check: CatalogCheck) -> None:
    """A catalog's skipped records on stderr, each with why: a warning when none is usable."""
    if not check.skipped and check.images:
        return
    if not check.images:
        found = f"{len(check.skipped)} records skipped" if check.skipped else "it lists no record"
        click.echo(f"Warning: catalog {source} has no usable image: {found}", err=True)
    else:
        click.echo(f"Warning: catalog {source}: {len(check.skipped)} records skipped", err=True)
    for name, reason in check.skipped[:SKIPPED_SHOWN]:
        click.echo(f"  skipped {name}: {reason}", err=True)
    if len(check.skipped) > SKIPPED_SHOWN:
        click.echo(
            f"  … and {len(check.skipped) - SKIPPED_SHOWN} more (oam-preview catalog {source})", err=True
        )


@dataclass(frozen=True)
class CatalogCheck:
    """What a catalog source yields, read once before the workers start: the usable images, each
    skipped record as ``(name, reason)``, or why the source as a whole cannot be read."""

    images: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def check_catalog(source: str, max_records: int) -> CatalogCheck:
    """Read the catalog at ``source`` as a worker will, in a forked child process.

    A child, not the master: reading a directory of GeoTIFFs opens them with
    GDAL and starts reader threads, and every worker forked from the master
    would inherit that state, threads gone and locks perhaps held.
    """
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_send_check, args=(source, max_records, sending), daemon=True)
    child.start()
    sending.close()
    try:
        check: CatalogCheck = receiving.recv()
    except EOFError:  # the child died without an answer (killed, out of memory)
        child.join()
        check = CatalogCheck(error=f"catalog {source}: the process reading it ended ({child.exitcode})")
    child.join()
    return check


def _send_check(source: str, max_records: int, sending: Any) -> None:
    """In the child of :func:`check_catalog`: the check, sent to the master."""
    from ..catalog import CatalogError, load

    logging.disable(logging.WARNING)  # each skipped record is the master's to print, once
    try:
        catalog = load(source, max_records=max_records)
        check = CatalogCheck(len(catalog), tuple((str(n), str(r)) for n, r in catalog.skipped))
    except CatalogError as exc:
        message = str(exc)
        check = CatalogCheck(error=message if source in message else f"catalog {source}: {message}")
    except Exception as exc:  # noqa: BLE001 - whatever it is, the operator reads one line
        check = CatalogCheck(error=f"catalog {source}: {type(exc).__name__}: {exc}")
    sending.send(check)
    sending.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for gunicorn to take over
    (``bind="fd://N"``): a port already taken is an ``OSError`` here, before any worker starts,
    rather than gunicorn's five retries after its banner."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        sock.bind(address)
        sock.listen(2048)  # gunicorn's backlog
    except OSError:
        sock.close()
        raise
    return sock
