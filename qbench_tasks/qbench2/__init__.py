"""Q-Bench+ (image pairs): A1-style questions on two images; layout, tasks and conversion."""
