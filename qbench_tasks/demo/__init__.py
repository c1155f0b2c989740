"""The offline demo: its tasks, generated data and fitted model (what `qbench demo` needs)."""
