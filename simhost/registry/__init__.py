"""The registry: customers, SIM slots and their numbers, sender whitelists, sends and routed messages."""
