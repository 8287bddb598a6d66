"""fundflow pipelines: everything that moves data, from report files to the lead queue."""
