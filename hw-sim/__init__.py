"""hwsim: a virtual SIM bank of GSM modems speaking AT over pseudo-terminals."""
