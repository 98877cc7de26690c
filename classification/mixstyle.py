"""MixStyle (Zhou et al., ICLR 2021): mixing feature statistics between training images.

An early feature map's per-channel mean and spread say more about how a film was made
(the scanner, its processing, the hospital) than about the chest. cxr4's classes come
from their own sources, so a model can name a class by those statistics. Mixing each
training image's statistics with another image's of the batch (a Beta-drawn share)
keeps the content and blurs the style, so style stops naming the class. At inference
the layer passes its input through unchanged.
"""

from __future__ import annotations

from lunggate.core.backend import keras, tf


class MixStyle(keras.layers.Layer):
    """Identity outside training; in training, with probability ``p`` per batch, each
    image's channel statistics are mixed with those of a random other image of the batch.

    ``p`` is set by the trainer (``ClsTrainConfig.mixstyle``) before the model is
    compiled; a model built for inference keeps the default 0.
    """

    def __init__(self, p: float = 0.0, alpha: float = 0.1, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.p, self.alpha, self.eps = p, alpha, eps

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training or self.p <= 0:
            return x
        mean = tf.stop_gradient(tf.reduce_mean(x, axis=(1, 2), keepdims=True))
        std = tf.stop_gradient(
            tf.sqrt(tf.math.reduce_variance(x, axis=(1, 2), keepdims=True) + self.eps)
        )
        n = tf.shape(x)[0]
        # Beta(alpha, alpha) from two gamma draws; with a small alpha both can underflow.
        a = tf.random.gamma([n, 1, 1, 1], self.alpha)
        share = tf.math.divide_no_nan(a, a + tf.random.gamma([n, 1, 1, 1], self.alpha))
        other = tf.random.shuffle(tf.range(n))
        mixed_mean = share * mean + (1 - share) * tf.gather(mean, other)
        mixed_std = share * std + (1 - share) * tf.gather(std, other)
        mixed = (x - mean) / std * mixed_std + mixed_mean
        return tf.cond(tf.random.uniform([]) < self.p, lambda: mixed, lambda: x)

    def get_config(self) -> dict:
        return {**super().get_config(), "p": self.p, "alpha": self.alpha, "eps": self.eps}
