"""Stage 1, the spec: networks, layers, activations, losses, regularisers, initialisers,
optimisers and target domains as small validated objects, read from Python, TOML or JSON.
"""
