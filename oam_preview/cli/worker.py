"""``oam-preview worker``: runs the queued seeding and export jobs (RQ)."""

from __future__ import annotations

import click


@click.command("worker")
@click.option(
    "--queue", required=True, help="redis://… of the RQ queues that `seed --queue` and exports fill."
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queue: str, burst: bool) -> None:
    """Run queued seeding and export jobs (any number of machines may run workers on one queue;
    an export's worker must see OAM_PREVIEW_EXPORT_DIR)."""
    from ..offline import export_queue, seed

    seed.work(queue, burst, (seed.QUEUE, export_queue.QUEUE))
