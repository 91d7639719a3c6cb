"""Caches of rendered responses: the worker's LRU, a file shared by the machine's workers, Redis
shared by every machine, and the three in tiers.

``entry`` (what is cached and counted), ``local`` (the LRU), ``machine`` (the SQLite file),
``shared`` (Redis, optional), ``tiered`` (local, machine, then shared, and
:func:`~oam_preview.cache.tiered.response_cache`, the factory from the settings).
"""
