"""The one exception type a user sees for a bad spec."""


class SpecError(ValueError):
    """A network spec is invalid; the message names the field and the value."""
