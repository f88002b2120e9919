"""Tests of kybernetes.runtime: real runc containers on this machine."""
