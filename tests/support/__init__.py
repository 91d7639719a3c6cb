"""The one test harness: what the tests and benchmarks share (conftests hold fixtures only, and no
test module imports another; ``tests/test_harness_imports.py`` keeps it so).

- ``geotiffs``: GeoTIFF writers (generated kinds of upload, ``write_cog``, ``write_stripped``) and
  the committed files' directory; ``terrain``: DEMs and multispectral images.
- ``catalog_documents``: GeoJSON catalogs of the served files; ``footprint_catalog``: a small one
  of footprints only; ``routes``: a URL of every route.
- ``apps``: ``app_over`` (an app over a catalog), ``served`` / ``serve_app`` (one on a loopback
  port), ``wait_for_footprints``; ``export_jobs``: waiting for a job, reading a package back.
- ``page``: the browser page helpers; ``page_scale``: the page measured with a large catalog.
- ``fault_server``: a Range file server whose faults switch at run time; ``load_harness``:
  ``oam-preview serve`` under load; ``fleet``: nginx in front of instances; ``redis_server``,
  ``stac_api_server``, ``loopback``, ``raw_http``, ``gdal_client``, ``qgis``: other real parts.
- ``processes``: ports and child processes; ``system``: skip, or fail in CI, without a package;
  ``strategies``: hypothesis strategies; ``report_corpus``: the checkup's damaged files.
"""
