"""Scale runs (`make bench`): each `bench_*.py` module's `main(out_dir)` returns rows of figures."""
