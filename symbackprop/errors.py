"""The one exception type a user sees for a bad spec, and how user text is shown in messages."""


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on — controls (ESC, newline, NUL),
    format characters (bidirectional overrides), line and paragraph separators, lone
    surrogates — written as its escape (``\\x1b``, ``\\n``, ``\\u202e``), as ``repr`` writes it.
    User text in a message can then neither colour the terminal nor fake a line of output.
    """
    return "".join(
        char if char.isprintable() or char == " " else repr(char)[1:-1] for char in text
    )


class SpecError(ValueError):
    """A network spec is invalid; the message names the field and the value.

    Whatever text the message quotes from the spec, it is shown ``printable``.
    """

    def __str__(self) -> str:
        return printable(super().__str__())


def shorten(value: object, limit: int = 80) -> str:
    """``value`` as text cut to ``limit`` characters, for a message (a formula can be long)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
