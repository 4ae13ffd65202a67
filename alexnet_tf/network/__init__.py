"""The network: AlexNet's own layers (grouped convolution, local response normalization),
the model as the paper's Figure 2 draws it, `keras.applications`-style construction, and the
import of Caffe's bvlc_alexnet weights."""
