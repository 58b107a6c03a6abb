"""Test support: tiny wheels, an in-tree build backend, workspace factories."""
