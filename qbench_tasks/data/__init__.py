"""Shared data plumbing: where data is, writing/reading parquet datasets, the conversion framework,
the image policy and images left on disk until their batch."""
