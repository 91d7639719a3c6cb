"""Caches of rendered responses: the worker's LRU, Redis shared by every worker, and the two in tiers.

``entry`` (what is cached and counted), ``local`` (the LRU), ``shared`` (Redis, optional),
``tiered`` (local then shared, and :func:`~oam_preview.cache.tiered.response_cache`, the
factory from the settings).
"""
