"""Sending SMS through the bank: requests, their durable queue, the outcomes customers are told."""
