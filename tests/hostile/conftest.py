"""Hostile-server tests: the servers live in the test module, where each case scripts them."""
