"""Data flows: raw log (io) → canonical frame (filters) → SequenceDataset (idmap) → split."""
