"""Readers for external verification inputs (CalculiX .inp, FEBio .feb)."""
