"""The SMTP gateway: protocol, handler and server."""
