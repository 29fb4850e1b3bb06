"""The Bayesian bandit's parts, each a small pure module (no I/O, no clock, seeded randomness).

`beliefs` turns an observation into a posterior, `draws` samples it, `sequential` holds the
anytime-valid tests, `objectives` and `rewards` apply them, `allocation` splits traffic, `srm`
checks the split that was asked for against the one that happened, `state` carries what one
iteration leaves the next, and `decide` turns all of it into a `Decision`.
"""
