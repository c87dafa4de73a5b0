"""accelsim: recommendation-model inference on package-integrated CPU+accelerator systems."""

__version__ = "0.1.0"
