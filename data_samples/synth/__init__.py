"""Building blocks of the synthetic county generator (`data_samples.generator`)."""
