"""Pixels of catalog images: what a GeoTIFF is (its description), what a read may cost, tiles,
thumbnails, the mosaic, rendering options and the TileJSON/WMTS documents of a layer."""
