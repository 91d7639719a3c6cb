"""``python -m oam_preview.cli``: the ``oam-preview`` command."""

from . import main

main()
