"""What the pipeline reads and writes: frame records, trajectory files, training shards,
analysed time series, and atomic writes.  Imports nothing above itself."""
