"""The udev rules simhost ships, installed as the package `simhost_udev` (read by `simhost udev rules`)."""
