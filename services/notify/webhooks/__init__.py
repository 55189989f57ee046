"""Partner webhooks (Standard Webhooks) and the TMF621 hub."""
