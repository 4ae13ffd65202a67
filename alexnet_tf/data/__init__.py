"""The input: sources of labelled images, header-checked decoding, the paper's preprocessing
and augmentation (§2, §4.1), dataset statistics, the tf.data pipeline, and the TFRecord
writer."""
