"""The embedded demo: synthetic but realistic-looking GeoTIFFs at real places, served over HTTP.

- :mod:`.images`: the demo's images and their building, once, into the user's cache directory;
- :mod:`.synthetic`: how their pixels and file layouts are made;
- :mod:`.catalog`: their catalog, shaped like OpenAerialMap's STAC API answers;
- :mod:`.fileserver`: the Range-capable HTTP file server they are read from (as in production);
- :mod:`.switch`: the one "catalog or demo" switch of the CLI and of ``oam_preview.create_app``.

Nothing is imported here: the file server's child process imports only its own module.
"""
