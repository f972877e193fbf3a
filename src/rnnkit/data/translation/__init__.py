"""Translation data (sequence to sequence): parallel text files (Multi30k), Tatoeba pairs and
the built-in number words."""
