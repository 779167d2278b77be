"""Stage 3, lower: a ``Derivation`` becomes a ``Program`` of statements, rewritten by small
named rules in ordered phases (canonicalise → stabilise → specialise)."""
