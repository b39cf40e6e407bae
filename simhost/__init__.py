"""simhost: a controller for GSM SIM banks."""
