// Package train fits the busam heads (model/heads) on cached encoder
// embeddings: Dice + BCE mask loss, class-weighted cross-entropy, AdamW
// with warm-up and cosine decay, horizontal-flip augmentation through the
// cached embeddings of flipped images, and early stopping on the
// validation split. A run is seeded and deterministic: the samples of a
// mini-batch run in parallel goroutines, but their gradients are summed in
// a fixed order, so the worker count does not change the result.
package train
