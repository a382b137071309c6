"""Solves off the web process: worker processes, their pool and queue, and the persistent job store."""
