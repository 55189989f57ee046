"""Libraries shared by the five services: plumbing only, no business rules."""
