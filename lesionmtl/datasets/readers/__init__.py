"""Readers of the official on-disk formats (and users' RECIST tables): each yields Samples and Rejections."""
