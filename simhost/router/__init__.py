"""The router: assigns each inbound message to its owner by the service rules."""
