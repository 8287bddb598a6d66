"""The detect step: run the rule pack over the warehouse and write alerts and rings."""
