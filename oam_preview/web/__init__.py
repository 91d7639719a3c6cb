"""The HTTP layer: the blueprint, its route table and views, responses and the URLs they emit.

The only part of the package that imports Flask.
"""
