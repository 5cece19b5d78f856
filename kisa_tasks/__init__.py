"""KISA platform library."""
