"""What a hub's past says, computed from the store's history (pure): availability, the incident
timeline, login times over hours and days."""
