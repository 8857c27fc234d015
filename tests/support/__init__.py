"""Helpers the tests share: real servers, package and media builders, waiting."""
