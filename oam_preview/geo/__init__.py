"""Geometry on the Earth: Web Mercator constants and tile maths, footprints in EPSG:4326 degrees,
and where a GeoTIFF lies (its georeference)."""
