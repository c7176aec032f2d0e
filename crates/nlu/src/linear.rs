//! Multinomial logistic regression over sparse features, trained with SGD.
//!
//! Small and fast enough to train per tenant in seconds, deterministic (fixed
//! seed, no hash-order dependence), and it yields probabilities that an
//! out-of-scope threshold can be put on.

use crate::features::SparseVec;

/// Training hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainParams {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial learning rate (decays linearly to a tenth of it).
    pub learning_rate: f32,
    /// L2 penalty per update.
    pub l2: f32,
    /// Seed of the shuffling order.
    pub seed: u64,
    /// Return the average of the weights over all steps (averaged SGD),
    /// which generalises better than the last iterate on noisy labels.
    #[serde(default)]
    pub average: bool,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 30,
            learning_rate: 3.0,
            l2: 1e-4,
            seed: 0x5eed_0001,
            average: false,
        }
    }
}

/// A trained softmax model: `weights[f * classes + c]`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Softmax {
    pub classes: usize,
    pub features: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

/// xorshift64*: a tiny deterministic generator for shuffling.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

impl Softmax {
    /// Trains on `xs` with labels `ys` (each `< classes`).
    pub(crate) fn train(
        xs: &[SparseVec],
        ys: &[usize],
        features: usize,
        classes: usize,
        p: &TrainParams,
    ) -> Softmax {
        let mut m = Softmax {
            classes,
            features,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        };
        if classes == 0 {
            return m;
        }
        let mut order: Vec<usize> = (0..xs.len().min(ys.len())).collect();
        let mut rng = Rng::new(p.seed);
        let total = (p.epochs * order.len()).max(1) as f32;
        let mut step = 0usize;
        let mut probs = vec![0.0f32; classes];
        // Averaging trick: with u accumulating step * update, the average
        // of all iterates is w - u / steps, kept in O(touched weights).
        let mut u_w = if p.average {
            vec![0.0f32; m.weights.len()]
        } else {
            Vec::new()
        };
        let mut u_b = vec![0.0f32; classes];
        for _ in 0..p.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let (Some(x), Some(&y)) = (xs.get(i), ys.get(i)) else {
                    continue;
                };
                let lr = p.learning_rate * (1.0 - 0.9 * step as f32 / total);
                step += 1;
                m.probs_into(x, &mut probs);
                // Gradient of the log loss: p - onehot(y).
                if let Some(py) = probs.get_mut(y) {
                    *py -= 1.0;
                }
                let c = step as f32;
                for ((b, g), ub) in m.bias.iter_mut().zip(&probs).zip(u_b.iter_mut()) {
                    *b -= lr * g;
                    *ub -= c * lr * g;
                }
                let decay = 1.0 - lr * p.l2;
                for &(f, v) in x {
                    let start = f as usize * classes;
                    if let Some(row) = m.weights.get_mut(start..start + classes) {
                        if p.average {
                            if let Some(urow) = u_w.get_mut(start..start + classes) {
                                for ((w, g), u) in row.iter_mut().zip(&probs).zip(urow.iter_mut()) {
                                    let new = *w * decay - lr * g * v;
                                    *u += c * (new - *w);
                                    *w = new;
                                }
                            }
                        } else {
                            for (w, g) in row.iter_mut().zip(&probs) {
                                *w = *w * decay - lr * g * v;
                            }
                        }
                    }
                }
            }
        }
        if p.average && step > 0 {
            let n = step as f32;
            for (w, u) in m.weights.iter_mut().zip(&u_w) {
                *w -= u / n;
            }
            for (b, u) in m.bias.iter_mut().zip(&u_b) {
                *b -= u / n;
            }
        }
        m
    }

    /// Class scores before the softmax.
    pub(crate) fn logits_into(&self, x: &SparseVec, out: &mut [f32]) {
        out.fill(0.0);
        for (o, b) in out.iter_mut().zip(&self.bias) {
            *o = *b;
        }
        for &(f, v) in x {
            let start = f as usize * self.classes;
            if let Some(row) = self.weights.get(start..start + self.classes) {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w * v;
                }
            }
        }
    }

    /// Class probabilities.
    pub(crate) fn probs_into(&self, x: &SparseVec, out: &mut [f32]) {
        self.logits_into(x, out);
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            sum += *o;
        }
        if sum > 0.0 {
            for o in out.iter_mut() {
                *o /= sum;
            }
        }
    }

    pub(crate) fn probs(&self, x: &SparseVec) -> Vec<f32> {
        let mut out = vec![0.0; self.classes];
        self.probs_into(x, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_classes() {
        let xs = vec![
            vec![(0, 1.0)],
            vec![(1, 1.0)],
            vec![(0, 0.7), (2, 0.7)],
            vec![(1, 0.7), (2, 0.7)],
        ];
        let ys = vec![0, 1, 0, 1];
        let m = Softmax::train(&xs, &ys, 3, 2, &TrainParams::default());
        assert!(m.probs(&vec![(0, 1.0)])[0] > 0.8);
        assert!(m.probs(&vec![(1, 1.0)])[1] > 0.8);
        // Same data, same model.
        let m2 = Softmax::train(&xs, &ys, 3, 2, &TrainParams::default());
        assert_eq!(m.weights, m2.weights);
        // Averaged SGD learns the same separation, with other weights.
        let avg = TrainParams {
            average: true,
            ..TrainParams::default()
        };
        let ma = Softmax::train(&xs, &ys, 3, 2, &avg);
        assert!(ma.probs(&vec![(0, 1.0)])[0] > 0.7);
        assert!(ma.probs(&vec![(1, 1.0)])[1] > 0.7);
        assert_ne!(ma.weights, m.weights);
    }
}
