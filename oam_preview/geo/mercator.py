"""Web Mercator (EPSG:3857) constants, in one home: its sphere, its extent, its latitude limit."""

from __future__ import annotations

import math

#: The sphere's radius, metres: WGS84's semi-major axis, as EPSG:3857 uses it.
RADIUS = 6378137.0
#: Half the equator in Web Mercator metres: the grid's extent is +- this on both axes.
HALF_EQUATOR = math.pi * RADIUS
#: Web Mercator's latitude limit, degrees (where y reaches +- HALF_EQUATOR).
MAX_LATITUDE = 85.0511287798066
#: The whole Web Mercator world as EPSG:4326 ``(west, south, east, north)`` degrees.
WORLD = (-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE)
