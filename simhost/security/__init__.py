"""Credentials and access control for the MQTT broker."""
