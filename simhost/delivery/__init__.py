"""Delivery of routed messages to the customers' own channels (HTTP webhooks first), with durable retries."""
