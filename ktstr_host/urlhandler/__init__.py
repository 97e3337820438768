"""pyserial URL handlers of ktstr-py (``ktstrreplay://``); registered by ``ktstr_host``."""
