"""The gateway: port workers that read SMS and calls from modems, the spool, and the MQTT relay."""
