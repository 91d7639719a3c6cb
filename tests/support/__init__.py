"""Plumbing the tests and benchmarks share: ports, child processes, loopback HTTP servers."""
