"""featurize: embeddings of images and boxes into an HDF5 file."""
