"""The derivation as a document: a lecture built as plain data from a ``Derivation``, written
as LaTeX, Markdown or HTML by printers of the expressions it holds."""
