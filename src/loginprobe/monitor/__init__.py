"""`probe serve`: when to probe, the browser pool, what a verdict does, delivery and health."""
