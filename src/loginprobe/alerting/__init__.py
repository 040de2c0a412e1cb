"""Where pages go: PagerDuty's Events API v2, its events built and sent."""
