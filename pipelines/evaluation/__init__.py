"""How well the rule pack and the ranking do against known cases: truth, backtests, training."""
