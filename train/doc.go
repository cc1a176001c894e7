// Package train fits the busam heads (model/heads) on cached encoder
// embeddings: Dice + BCE mask loss, class-weighted cross-entropy, AdamW
// with warm-up and cosine decay, horizontal-flip augmentation through the
// cached embeddings of flipped images, and early stopping on the
// validation split. With Options.TuneNeck it trains the encoder's neck
// (heads.Neck) too, on cached trunk features, and the heads file carries
// the tuned neck as encoder overrides. A run is seeded and deterministic: the samples of a
// mini-batch run in parallel goroutines, but their gradients are summed in
// a fixed order, so the worker count does not change the result.
package train
