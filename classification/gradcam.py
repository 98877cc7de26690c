"""Grad-CAM and Guided Grad-CAM as reusable objects over a logits model.

The gradient model is built once; each call handles a batch in one forward and one
backward pass, pools gradients per sample (never across the batch), and leaves the
serving model untouched. For the classifiers lunggate ships (pooled features, then a
linear layer) ``pooled_linear_cam`` gives the same map from the forward pass alone.
Each map is min-max scaled to [0, 1]; a map with no variation (no localized
evidence) is all zero, not a division by zero.
"""

from __future__ import annotations

import numpy as np

from lunggate.core.backend import keras, tf


def last_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last top-level layer whose output is a 4-D feature map.

    When the backbone is a nested sub-model, that sub-model itself is the answer: its
    output is its last convolutional feature map.
    """
    for layer in reversed(model.layers):
        if len(outer_output(layer).shape) == 4:
            return layer
    raise ValueError(f"model {model.name} has no 4-D feature map to explain")


def outer_output(layer: keras.layers.Layer):
    """The layer's output as seen by the enclosing model (its last call), not its inner one.

    Keras 3 layers have one output node per model, so there it is just ``output``.
    """
    return layer.get_output_at(-1) if hasattr(layer, "get_output_at") else layer.output


def flavour(model: keras.Model):
    """The Keras package ``model`` belongs to: tf-keras (lunggate's), or Keras 3 (a
    user's model saved by TensorFlow 2.16 or newer)."""
    if type(model).__module__.startswith("keras."):
        import keras as keras3

        return keras3
    return keras


class GradCAM:
    """Class activation maps for a batch, with the logits from the same forward pass.

    Args:
        model: maps (N, H, W, C) input to (N, classes) logits.
        layer_name: feature layer to explain; default the last 4-D one.
    """

    def __init__(self, model: keras.Model, layer_name: str | None = None) -> None:
        layer = model.get_layer(layer_name) if layer_name else last_feature_layer(model)
        self.layer_name = layer.name
        grad_model = flavour(model).Model(model.inputs, [outer_output(layer), model.outputs[0]])
        self.grad_model = grad_model
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)

        @tf.function(input_signature=[spec, tf.TensorSpec([None], tf.int32)])
        def compute(x, class_index):
            with tf.GradientTape() as tape:
                features, logits = grad_model(x, training=False)
                chosen = tf.where(
                    class_index < 0, tf.argmax(logits, -1, output_type=tf.int32), class_index
                )
                score = tf.reduce_sum(tf.gather(logits, chosen, axis=1, batch_dims=1))
            grads = tape.gradient(score, features)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # per sample
            cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
            return cam, logits, chosen

        self._compute = compute

    def __call__(
        self, x: np.ndarray, class_index: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CAMs for a batch.

        Args:
            x: (N, H, W, C) float32 model input.
            class_index: (N,) class to explain per image; default the predicted class.

        Returns:
            ``(cams, logits, explained)``: (N, h, w) maps in [0, 1] at feature resolution,
            (N, classes) logits, and the (N,) class each map explains.
        """
        if class_index is None:
            class_index = np.full(len(x), -1, np.int32)
        cam, logits, chosen = self._compute(
            tf.constant(x, tf.float32), tf.constant(class_index, tf.int32)
        )
        return scale_maps(cam.numpy()), logits.numpy(), chosen.numpy()


def pooled_linear_cam(features: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """Grad-CAM of a network ending in global average pooling and a linear layer.

    There the gradient of a class's logit with respect to each cell of channel k is
    that class's weight w_k over the number of cells, so Grad-CAM's channel weights
    are the w_k up to a positive factor, which the scaling removes (Grad-CAM reduces
    to CAM). No backward pass is needed: the map comes from the forward pass's
    feature map, which is what lets a compiled (LiteRT) model be explained.

    Args:
        features: (N, h, w, K) last feature maps.
        class_weights: (N, K) the linear layer's weights of each image's explained class.
    """
    return scale_maps(np.maximum(np.einsum("nhwk,nk->nhw", features, class_weights), 0.0))


def scale_maps(cam: np.ndarray) -> np.ndarray:
    """Min-max scale each (h, w) map of a batch to [0, 1]; a flat map becomes all zero.

    Min-max per sample (as pytorch-grad-cam scales): the floor that batch-norm biases
    put under every cell, evidence or not, is not attention.
    """
    floor = cam.min(axis=(1, 2), keepdims=True)
    span = cam.max(axis=(1, 2), keepdims=True) - floor
    return np.divide(cam - floor, span, out=np.zeros_like(cam), where=span > 0).astype(np.float32)


@tf.custom_gradient
def _guided_relu(x):
    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast(x > 0, dy.dtype)

    return tf.nn.relu(x), grad


@tf.custom_gradient
def _guided_relu6(x):
    def grad(dy):
        return dy * tf.cast(dy > 0, dy.dtype) * tf.cast((x > 0) & (x < 6), dy.dtype)

    return tf.nn.relu6(x), grad


def _guide(layer: keras.layers.Layer) -> None:
    """Swap a layer's ReLU for its guided twin (only ever on a private clone)."""
    if isinstance(layer, keras.layers.ReLU):
        six = layer.max_value is not None and float(layer.max_value) == 6.0
        layer.call = _guided_relu6 if six else _guided_relu
    elif getattr(layer, "activation", None) in (keras.activations.relu, tf.nn.relu):
        layer.activation = _guided_relu


class GuidedBackprop:
    """Input gradients where ReLUs pass only positive gradient of positive inputs.

    Works on a clone with guided ReLUs, so the serving model keeps its own activations.
    """

    def __init__(self, model: keras.Model) -> None:
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        for layer in clone.submodules:
            _guide(layer)
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)

        @tf.function(input_signature=[spec, tf.TensorSpec([None], tf.int32)])
        def compute(x, class_index):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = clone(x, training=False)
                score = tf.reduce_sum(tf.gather(logits, class_index, axis=1, batch_dims=1))
            return tape.gradient(score, x)

        self._compute = compute

    def __call__(self, x: np.ndarray, class_index: np.ndarray) -> np.ndarray:
        """(N, H, W, C) guided gradients of each image's ``class_index`` logit."""
        return self._compute(tf.constant(x, tf.float32), tf.constant(class_index, tf.int32)).numpy()


def guided_gradcam(guided: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Guided backpropagation times the CAM upsampled to the input: (N, H, W), |values|.

    Args:
        guided: (N, H, W, C) guided gradients.
        cam: (N, H, W) Grad-CAM at input resolution.
    """
    product = np.abs(guided).sum(axis=-1) * cam
    peak = product.max(axis=(1, 2), keepdims=True)
    return np.divide(product, peak, out=np.zeros_like(product), where=peak > 0)
