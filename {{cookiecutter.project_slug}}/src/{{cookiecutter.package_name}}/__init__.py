"""This repository's model: its data contract, pipeline stages and command line."""
