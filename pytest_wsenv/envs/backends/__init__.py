"""Installers that create a virtual environment and install exactly a plan into it."""
