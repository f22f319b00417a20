"""Relay Novel's text engine: a character-level GRU that writes Korean fiction.

The modules follow the data's path: ``text`` (decode, normalise, split
sentences) -> ``vocab`` -> ``data`` -> ``model`` -> ``train`` -> ``generate``,
with ``checkpoint`` holding the on-disk format. Nothing here imports Django;
the web side reaches the engine through one adapter module of its own.
"""
