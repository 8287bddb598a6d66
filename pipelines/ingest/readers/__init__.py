"""One reader per file format, each staging a file's raw rows for validation."""
