"""Protocol peers the tests run on 127.0.0.1: servers and clients standing for the systems canary talks to."""
