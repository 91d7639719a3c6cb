"""The offline jobs: tile packages (``oam-preview export``, ``POST /api/exports``), cache seeding
(``oam-preview seed``) and footprint archives, each tile asked of the tile routes' own functions
(:mod:`oam_preview.tiler.tile_bodies`).

- :mod:`.request`: what an export packages, parsed from JSON (the web layer's);
- :mod:`.coverage`: which tiles a request covers, over antimeridian-split boxes (the web layer's);
- :mod:`.jobs`: the job store of ``POST /api/exports`` (the web layer's);
- :mod:`.lifeline`: how a server's local jobs end with it;
- :mod:`.renderer`: the tile functions in a process of its own;
- :mod:`.runner`: one process runner (spawn pool, batches, outcome);
- :mod:`.worker`: an export run, and a job's process;
- :mod:`.seed`: warming the shared cache, locally or through RQ;
- :mod:`.package`: the package files (MBTiles, PMTiles);
- :mod:`.footprint_archive`: a query's footprint tiles as one PMTiles file.

The web layer imports only the first three (a contract of ``setup.cfg``).
"""
