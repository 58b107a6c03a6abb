"""Cached, exact, isolated environments per member/extras/groups/Python."""
