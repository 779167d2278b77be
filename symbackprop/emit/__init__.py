"""Stage 4, emit: a ``Program`` printed into the module template with the network-independent
runtime, formatted by black and written atomically."""
