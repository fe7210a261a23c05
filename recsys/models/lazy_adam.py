"""Adam that updates only the embedding rows a batch used ("lazy" Adam).

Keras's Adam makes an embedding's sparse gradient dense: every row's moments
and weights move at every step, so a step costs as much as the whole table,
and an epoch as much as interactions x (users + items). Here an embedding
table's gradient stays sparse and only the rows the batch gathered are
updated (as TensorFlow Addons' LazyAdam did), bias-corrected with the global
step; dense variables get plain Adam. A step then costs the same at any
catalog size.
"""

from __future__ import annotations

from recsys.quiet import tf  # TensorFlow without its start-up lines


class LazyAdam:
    """Call :meth:`apply` inside the compiled training step; variables are Keras or TF variables."""

    def __init__(self, variables, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.variables = [getattr(v, "value", v) for v in variables]  # the tf.Variable behind a Keras variable
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.first = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.second = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.steps = tf.Variable(0.0, trainable=False)

    def apply(self, gradients) -> None:
        self.steps.assign_add(1.0)
        rate = (self.learning_rate * tf.sqrt(1.0 - self.beta_2 ** self.steps)
                / (1.0 - self.beta_1 ** self.steps))
        for gradient, variable, first, second in zip(gradients, self.variables, self.first, self.second):
            if gradient is None:  # a variable this loss does not reach
                continue
            if isinstance(gradient, tf.IndexedSlices):
                rows, position = tf.unique(gradient.indices)  # a row gathered twice: its gradients summed
                values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
                m = self.beta_1 * tf.gather(first, rows) + (1.0 - self.beta_1) * values
                v = self.beta_2 * tf.gather(second, rows) + (1.0 - self.beta_2) * tf.square(values)
                first.scatter_update(tf.IndexedSlices(m, rows))
                second.scatter_update(tf.IndexedSlices(v, rows))
                variable.scatter_sub(tf.IndexedSlices(rate * m / (tf.sqrt(v) + self.epsilon), rows))
            else:
                first.assign(self.beta_1 * first + (1.0 - self.beta_1) * gradient)
                second.assign(self.beta_2 * second + (1.0 - self.beta_2) * tf.square(gradient))
                variable.assign_sub(rate * first / (tf.sqrt(second) + self.epsilon))
