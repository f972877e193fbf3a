"""Image captioning data: Flickr8k, COCO captions, the constant-caption baseline and the
built-in digit strips."""
