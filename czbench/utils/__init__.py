"""Small helpers every layer may use: array conversion, hashing, atomic files, params, sampling.

Nothing here knows about tasks, datasets or runs.
"""
