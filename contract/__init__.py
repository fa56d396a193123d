"""The few things the kiosk and the central service share, and nothing else.

``wire`` (the enrollment's three layers, every API path, result statuses and
rejection reasons), ``errors`` (the base of every error a person can meet, with its
kind and whether trying again may help) and ``units`` (PIN length, Japan time).
This package imports no other package of the project.
"""
