"""TensorBoard event files (``events.out.tfevents.*``): written by :mod:`.events`."""

from __future__ import annotations

from .events import (
    encode_event,
    event_filename,
    iter_events,
    iter_records,
    write_graph_event_file,
)

__all__ = ["encode_event", "event_filename", "iter_events", "iter_records",
           "write_graph_event_file"]
