"""Front door of ktstr_host.export (the names ``__init__.py`` loads lazily)."""

from .html import write_html
from .pcapng import export_pcapng
from .raw import export_raw

__all__ = ["export_pcapng", "export_raw", "write_html"]
