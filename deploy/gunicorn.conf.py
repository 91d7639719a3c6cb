"""gunicorn settings of one oam-preview instance: ``gunicorn -c deploy/gunicorn.conf.py``.

The settings of ``oam-preview serve``, from the same source
(:func:`oam_preview.serve.config_from_environment`): the hooks that tune malloc
in every worker and sum the workers' metrics apply here too. The
``OAM_PREVIEW_*`` settings come from the environment (see docs/API.md);
``OAM_PREVIEW_CATALOG`` is needed, ``OAM_PREVIEW_BIND``, ``_WORKERS``,
``_THREADS`` and ``_MAX_REQUESTS`` are read here. Workers and threads: see
"Memory for N workers" in docs/deploy.md.
"""

from oam_preview.serve import config_from_environment

globals().update(config_from_environment())
