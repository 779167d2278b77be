"""The derivation as a document: a lecture built as plain data from a ``Derivation``, written
as LaTeX, Markdown or HTML by printers of the expressions it holds."""

from ..derive.derivation import install_writer
from .views import write

# a Derivation's views (str, latex(), to_latex(), …) are written here; deriving never imports
# this package, so it is installed when the package is imported
install_writer(write)
