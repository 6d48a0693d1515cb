"""Serving a trained model live: an event log and per-user recurrent states that advance one step
per event (state_store, live), behind an HTTP API (app)."""
