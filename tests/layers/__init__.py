"""Test package, so that module names here (test_bad_input) do not clash with other test dirs."""
