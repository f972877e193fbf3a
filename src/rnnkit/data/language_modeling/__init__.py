"""Language-modelling data: plain-text corpora (tiny-shakespeare, PTB) and the built-in
standard-library source."""
