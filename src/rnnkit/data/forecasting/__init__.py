"""Forecasting data: dated CSV series, ETT and the built-in Mauna Loa CO2 series."""
