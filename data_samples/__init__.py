"""Sample institution files: small hand-made ones in `bank_files/`, and the synthetic county generator."""
