"""Placeholder module being written now; see the task registry."""
