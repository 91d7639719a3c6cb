"""Reading remote GeoTIFFs: the opener (the one seam for remote reads), the per-host guard, the
network policy, freshness checks, failure diagnosis and GDAL's settings and safety."""
