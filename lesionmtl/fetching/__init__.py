"""Getting the real datasets: their official releases, verified downloads, safe unpacking."""
